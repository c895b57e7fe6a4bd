from kehu.lib.crypto import blind_index, decrypt, encrypt


def test_it_round_trips_and_never_repeats_a_ciphertext():
    a, b = encrypt("+8613812345678"), encrypt("+8613812345678")
    assert a != b
    assert "13812345678" not in a
    assert decrypt(a) == decrypt(b) == "+8613812345678"


def test_the_blind_index_is_stable_and_keyed():
    assert blind_index("+8613812345678") == blind_index("+8613812345678")
    assert blind_index("+8613812345678") != blind_index("+8613812345679")
    assert "13812345678" not in blind_index("+8613812345678")
    assert blind_index("") == ""
