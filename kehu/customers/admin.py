"""Shop settings for the archive. Customers themselves are edited in the app, where masking applies."""

from django.contrib import admin

from .models import CustomField, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ("label", "key", "type", "position")
    list_editable = ("position",)
    prepopulated_fields = {"key": ("label",)}
