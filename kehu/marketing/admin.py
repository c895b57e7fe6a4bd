from django.contrib import admin

from .models import FollowUpRule, Playbook


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ("key", "enabled", "days", "due_days", "threshold", "min_value", "classes")
    list_editable = ("enabled", "days", "due_days", "threshold", "min_value", "classes")
    readonly_fields = ("key",)

    def has_add_permission(self, request) -> bool:
        return False  # one row per rule, created with its defaults


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("column", "class_name", "action")
    list_editable = ("action",)
    list_filter = ("column",)
