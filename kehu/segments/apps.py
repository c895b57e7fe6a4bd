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
        register_age_bands(SegmentSettings.load_age_bands)
