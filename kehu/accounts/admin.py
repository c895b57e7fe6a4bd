from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User

admin.site.site_header = "kehu 系统设置"
admin.site.site_title = "kehu 系统设置"
admin.site.index_title = "设置：用户、标签、自定义字段、商品与评价维度"


@admin.register(User)
class KehuUserAdmin(UserAdmin):
    list_display = ("username", "display_name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("角色 Role", {"fields": ("role",)}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("角色 Role", {"fields": ("role",)}))
