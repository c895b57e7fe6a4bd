from django.contrib import admin

from .models import FeedbackDimension


@admin.register(FeedbackDimension)
class FeedbackDimensionAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "active")
    list_editable = ("position", "active")
