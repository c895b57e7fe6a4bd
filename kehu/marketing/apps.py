from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "kehu.marketing"
    label = "marketing"
    verbose_name = "精准营销"

    def ready(self):
        from kehu.customers import privacy
        from kehu.segments import risk

        from . import playbooks, targets

        privacy.erasing.connect(targets.forget_erased, dispatch_uid="marketing-forget-erased")
        risk.register_action_lookup(playbooks.first_actions)
