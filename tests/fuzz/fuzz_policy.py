"""Coverage-guided fuzzing of the county policy decoder with atheris.

The target fails when decoding raises anything but PolicyError, or when a decoded
policy does not survive encoding and decoding again.

    .venv/bin/python tests/fuzz/fuzz_policy.py -runs=100000
"""

import sys

import atheris

with atheris.instrument_imports():
    from engine.policy import PolicyError, decode_policy, encode_policy


def test_one_input(data: bytes) -> None:
    try:
        policy = decode_policy(data, "fuzzed.json")
    except PolicyError:
        return
    if decode_policy(encode_policy(policy), "encoded") != policy:
        raise AssertionError("a decoded policy changed when encoded and decoded again")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
