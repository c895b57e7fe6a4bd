"""Access that holds in production: backups tied to their data key, revocable tokens, headers that forbid
anything but kehu's own scripts — each through `kehu` as a subprocess and a live `kehu serve`."""

def test_it_refuses_to_restore_a_backup_plain_or_encrypted_under_another_data_key(ready_store, tmp_path):
    ready_store.kehu("demo", "--customers", "5", "--seed", "2")
    encrypted, plain = tmp_path / "shop.kehu-backup", tmp_path / "shop.bak"
    ready_store.kehu("backup", "-o", str(encrypted))
    ready_store.kehu("backup", "-o", str(plain), "--plain")
    other_key = {"KEHU_DATA_KEY": "a-different-data-key-for-this-test-0123456789"}

    for target in (encrypted, plain):
        refused = ready_store.kehu("restore", str(target), "--yes", "--no-safety-backup", env=other_key, check=False)
        assert refused.returncode != 0, target
        assert "数据密钥" in refused.stderr and "data key" in refused.stderr, refused.stderr
    # the store still opens under its own key, and its customers' mobiles still decrypt
    mobiles = ready_store.shell("from kehu.customers.models import Customer; "
                                "print(sum(1 for c in Customer.objects.all() if c.mobile.startswith('+86')))")
    assert mobiles.strip().splitlines()[-1] == "5"
    # under the key it was made with, the plain file restores
    assert "已从" in ready_store.kehu("restore", str(plain), "--yes", "--no-safety-backup").stdout
