from django.contrib import admin

from .models import FollowUpRule, Playbook


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ("key", "enabled", "days", "due_days", "threshold", "min_value", "classes")
    list_editable = ("enabled", "days", "due_days", "threshold", "min_value", "classes")
    readonly_fields = ("key",)

    def has_add_permission(self, request) -> bool:
        return False  # one row per rule, created with its defaults

    def changelist_view(self, request, extra_context=None):
        from .automation import rules

        rules()  # the rows exist (with their defaults) before the first run, so they can be edited
        return super().changelist_view(request, extra_context)


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("column", "class_name", "action")
    list_editable = ("action",)
    list_filter = ("column",)

    def changelist_view(self, request, extra_context=None):
        from .playbooks import ensure_defaults

        ensure_defaults()
        return super().changelist_view(request, extra_context)
