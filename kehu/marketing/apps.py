from django.apps import AppConfig


def _forget_erased(sender, **kwargs) -> int:
    """``targets.forget_erased``, imported when a person is erased: target lists bring the workbook writer."""
    from . import targets

    return targets.forget_erased(sender, **kwargs)


class MarketingConfig(AppConfig):
    name = "kehu.marketing"
    label = "marketing"
    verbose_name = "精准营销"

    def ready(self):
        from kehu.customers import privacy
        from kehu.exchange import exports
        from kehu.segments import risk

        from . import playbooks, targets

        privacy.erasing.connect(_forget_erased, dispatch_uid="marketing-forget-erased")
        risk.register_action_lookup(playbooks.first_actions)
        exports.register("target-list", targets.EXPORT_KIND)
