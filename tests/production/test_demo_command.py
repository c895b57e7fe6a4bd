"""`make demo` a second time: the demo command keeps a store that already has customers."""


def test_make_demo_can_be_run_again_and_keeps_the_store(ready_store):
    """`make demo` runs `kehu demo --keep`: the second time it keeps the customers and says how to start over."""
    ready_store.kehu("demo", "--customers", "30", "--keep")
    again = ready_store.kehu("demo", "--customers", "30", "--keep")
    assert "保留现有数据" in again.stdout and "RESET=1" in again.stdout
    count = ready_store.shell("from kehu.customers.models import Customer; print(Customer.objects.count())")
    assert count.strip().splitlines()[-1] == "30"
