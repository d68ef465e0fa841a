"""The outbound address policy, host normalisation and bounded bodies, as units on literals: no traffic."""

import ipaddress
import tracemalloc
import zlib

import pytest

from hutong.errors import PlatformError
from hutong.platform.outbound import (
    AddressRefused,
    Deadline,
    Outbound,
    Policy,
    Slots,
    TooLarge,
    non_public,
    normalise_host,
    parse_target,
    read_capped,
    text_encoding,
)

REFUSED = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "0.1.2.3",
    "100.64.0.1", "100.100.100.200", "100.127.255.255",  # shared address space (metadata lives here)
    "192.0.0.1", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255",
    "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:100.100.100.200",  # IPv4-mapped
    "::127.0.0.1", "::8.8.8.8",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1",  # NAT64 of loopback, metadata, private
    "64:ff9b:1::8.8.8.8",  # local-use NAT64
    "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1",  # 6to4 of loopback, private, link-local
    "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "100::1",  # discard-only
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888",
          "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]  # fmt: skip


@pytest.mark.parametrize("literal", REFUSED)
def test_non_global_addresses_are_refused(literal):
    assert non_public(ipaddress.ip_address(literal)) is not None


@pytest.mark.parametrize("literal", PUBLIC)
def test_public_addresses_pass(literal):
    assert non_public(ipaddress.ip_address(literal)) is None


def test_the_reason_names_the_kind_of_address():
    why = {
        a: non_public(ipaddress.ip_address(a))
        for a in ["100.100.100.200", "::ffff:127.0.0.1", "2002:7f00:1::1"]
    }
    assert why == {"100.100.100.200": "shared (carrier-grade NAT)", "::ffff:127.0.0.1": "IPv4-mapped loopback",
                   "2002:7f00:1::1": "6to4 of a loopback address"}  # fmt: skip


def test_allowed_networks_open_only_themselves():
    policy = Policy(["127.0.0.0/8", "::1/128"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.5")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    assert Policy().refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"


def test_literal_targets_are_refused_without_resolving_or_connecting():
    out = Outbound(Policy())
    for url in [
        "http://127.0.0.1:8000/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/latest",
    ]:
        with pytest.raises(AddressRefused):
            out.address(parse_target(url), Deadline(1))


@pytest.mark.parametrize(
    ("host", "normal"),
    [("ｌocalhost", "localhost"), ("LocalHost.", "localhost"), ("evil。example.test", "evil.example.test"),
     ("ＥＶＩＬ．example．test", "evil.example.test"), ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
     ("[::1]", "::1"), ("0:0:0:0:0:0:0:1", "::1"), ("my_host.example", "my_host.example")],
)  # fmt: skip
def test_hosts_are_normalised_before_any_comparison(host, normal):
    assert normalise_host(host) == normal


@pytest.mark.parametrize(
    "url", ["http://a:99999/", "http://[::1", "http://a..b/", "http://" + "a" * 64 + ".test/",
            "http://" + "a." * 130 + "test/", "javascript:alert(1)", "http://a b/", "http://:80/", "http://a:0/"]
)  # fmt: skip
def test_malformed_urls_are_a_422(url):
    with pytest.raises(PlatformError) as err:
        parse_target(url)
    assert err.value.status == 422


def test_targets_keep_the_name_and_know_the_port():
    t = parse_target("https://Ｅxample.ORG./a%20b?q=é#frag")
    assert (t.host, t.port) == ("example.org", 443)
    assert t.url == "https://example.org/a%20b?q=%C3%A9"


def test_inflating_stops_at_the_cap_without_growing():
    """Regression (gzip bomb): 64 MB of zeros in 64 kB must never be inflated past the cap."""
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(pack.compress(bytes(1 << 20)) for _ in range(64)) + pack.flush()
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            read_capped([bomb], "gzip", 100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    assert read_capped([zlib.compress(b"<title>x</title>")], "deflate", 100) == b"<title>x</title>"
    with pytest.raises(ValueError, match="br"):
        read_capped([b"x"], "br", 100)


def test_only_real_text_encodings_are_used():
    assert text_encoding("GBK") == "gbk" and text_encoding('"utf-8"') == "utf-8"
    assert [text_encoding(n) for n in ["base64", "rot13", "idna", "punycode", "hex", "nonsense", ""]] == [
        None
    ] * 7


def test_slots_refuse_beyond_the_bounds_and_are_given_back():
    slots = Slots(total=3, each=2, what="link cards")
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(PlatformError, match="already have 2") as err, slots.hold("a"):
            pass
        assert err.value.status == 429
        with slots.hold("b"), pytest.raises(PlatformError, match="busy with 3"), slots.hold("c"):
            pass
    with slots.hold("a"), slots.hold("a"):
        pass
