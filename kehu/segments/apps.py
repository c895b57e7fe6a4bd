from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "kehu.segments"
    label = "segments"
    verbose_name = "客户分层"

    def ready(self) -> None:
        from . import signals

        signals.connect()

        from kehu.customers.filters import register_rule_lookup
        from kehu.customers.models import register_age_bands

        from .models import RuleSegment, SegmentSettings

        register_rule_lookup(RuleSegment.lookup)

        from django.utils.translation import gettext_lazy as _

        from kehu.lib.settings_menu import SettingsPage, register

        register(SettingsPage("thresholds", _("分层阈值"), "segments:settings",
                              _("RFM、价值与频次等级、生命周期、流失预警用到的阈值。"), managers=True, order=20))
        register_age_bands(SegmentSettings.load_age_bands)
