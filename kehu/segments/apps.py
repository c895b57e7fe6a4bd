from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "kehu.segments"
    label = "segments"
    verbose_name = "客户分层"

    def ready(self) -> None:
        from . import signals

        signals.connect()

        from kehu.customers.filters import register_rule_lookup

        from .models import RuleSegment

        register_rule_lookup(RuleSegment.lookup)
