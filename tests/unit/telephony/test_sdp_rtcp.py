"""SDP RTCP attributes (RFC 5761 a=rtcp-mux, RFC 3605 a=rtcp:) and the telephone-event
type in offers and answers: parsed, answered, ignored when bad, never raised out of the
parser as anything but `SdpError`; and any offer we parse yields an answer we read back."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.telephony.ports import MediaEndpoint
from jietong.telephony.sip import sdp

HEAD = "v=0\r\no=- 1 1 IN IP4 10.0.0.7\r\ns=-\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\n"


def offer(*attributes: str, m: str = "m=audio 7000 RTP/AVP 0 101") -> MediaEndpoint:
    lines = [m, "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", *attributes]
    return sdp.parse(HEAD + "\r\n".join(lines) + "\r\n").endpoint


def test_rtcp_mux_is_read() -> None:
    assert offer("a=rtcp-mux").rtcp_mux is True
    assert offer().rtcp_mux is False
    assert offer().rtcp_port is None


@pytest.mark.parametrize(
    ("attribute", "port"),
    [
        ("a=rtcp:7003", 7003),
        ("a=rtcp:7003 IN IP4 10.0.0.7", 7003),
        ("a=rtcp:53020 IN IP4 10.0.0.7", 53020),
    ],
)
def test_rtcp_port_is_read(attribute: str, port: int) -> None:
    assert offer(attribute).rtcp_port == port


@pytest.mark.parametrize(
    "attribute",
    [
        "a=rtcp:",
        "a=rtcp:x",
        "a=rtcp:0",
        "a=rtcp:65536",
        "a=rtcp:99999999999999999999",
        "a=rtcp:\u00b2",  # isdigit() but not int()-able
        "a=rtcp:7003 IN IP6 ::1",
        "a=rtcp:7003 IN IP4 10.0.0.8",  # another address: the engine cannot send there
        "a=rtcp:7003 IN IP4",
        "a=rtcp:-5",
    ],
)
def test_a_bad_rtcp_attribute_is_ignored_not_refused(attribute: str) -> None:
    endpoint = offer(attribute)
    assert endpoint.rtcp_port is None and endpoint.port == 7000


def test_mux_wins_over_an_rtcp_port_and_the_first_usable_port_counts() -> None:
    # RFC 5761 5.1.3: a muxing offerer may name its RTP port in a=rtcp as a fallback.
    assert offer("a=rtcp:7000", "a=rtcp-mux").rtcp_port is None
    assert offer("a=rtcp:bad", "a=rtcp:7005", "a=rtcp:7007").rtcp_port == 7005


def test_rtcp_mux_with_a_value_is_not_mux() -> None:
    assert offer("a=rtcp-mux:yes").rtcp_mux is False
    assert offer("a=rtcp-muxed").rtcp_mux is False


def test_session_level_rtcp_attributes_do_not_apply() -> None:
    # Both are media-level attributes (RFC 5761 5.1.1, RFC 3605 2.1).
    text = HEAD + "a=rtcp-mux\r\na=rtcp:9\r\nm=audio 7000 RTP/AVP 0\r\n"
    endpoint = sdp.parse(text).endpoint
    assert not endpoint.rtcp_mux and endpoint.rtcp_port is None


def test_a_bad_rtpmap_number_is_ignored_not_a_500() -> None:
    # Formerly: "²".isdigit() passed and int() raised a bare ValueError out of parse().
    endpoint = offer("a=rtpmap:\u00b2 PCMA/8000", "a=rtpmap:123456789 PCMA/8000")
    assert endpoint.codecs == (("PCMU", 0),)


def test_telephone_event_outside_the_dynamic_range_is_ignored() -> None:
    endpoint = offer("a=rtpmap:8 telephone-event/8000", m="m=audio 7000 RTP/AVP 0 8 13")
    assert endpoint.telephone_event_pt is None
    assert endpoint.codecs == (("PCMU", 0),)  # pt 8 was named telephone-event, not PCMA


OURS = MediaEndpoint("192.0.2.1", 30000, (("PCMU", 0), ("PCMA", 8)), 101)


def test_answer_muxes_only_when_offered_and_wanted() -> None:
    muxed = offer("a=rtcp-mux")
    wanted = MediaEndpoint(OURS.host, OURS.port, OURS.codecs, 101, rtcp_mux=True)
    assert sdp.answer_codecs(muxed, wanted).rtcp_mux is True
    assert sdp.answer_codecs(muxed, OURS).rtcp_mux is False  # a leg made without mux
    assert sdp.answer_codecs(offer(), wanted).rtcp_mux is False  # RFC 5761 5.1.1
    text = sdp.build(sdp.answer_codecs(muxed, wanted), session_id=1, version=1)
    assert "a=rtcp-mux\r\n" in text and "a=rtcp:" not in text
    assert "a=rtcp" not in sdp.build(sdp.answer_codecs(muxed, OURS), session_id=1, version=1)


def test_answer_uses_the_offerers_telephone_event_type() -> None:
    endpoint = offer("a=rtpmap:97 telephone-event/8000", m="m=audio 7000 RTP/AVP 0 97")
    assert endpoint.telephone_event_pt == 97
    assert sdp.answer_codecs(endpoint, OURS).telephone_event_pt == 97
    assert sdp.answer_codecs(offer(m="m=audio 7000 RTP/AVP 0"), OURS).telephone_event_pt is None


def test_our_offer_with_an_rtcp_port_round_trips() -> None:
    ours = MediaEndpoint("192.0.2.1", 30000, (("PCMU", 0),), 101, rtcp_port=30011)
    assert sdp.parse(sdp.build(ours, session_id=1, version=1)).endpoint == ours


# -- properties ------------------------------------------------------------------------

CODEC_LINES = {
    "PCMU": "PCMU/8000",
    "PCMA": "PCMA/8000",
    "G722": "G722/8000",
    "opus": "opus/48000/2",
    "te": "telephone-event/8000",
}

rtcp_attributes = st.lists(
    st.one_of(
        st.just("a=rtcp-mux"),
        st.integers(-2, 70000).map(lambda p: f"a=rtcp:{p}"),
        st.integers(1, 65535).map(lambda p: f"a=rtcp:{p} IN IP4 10.0.0.7"),
        st.integers(1, 65535).map(lambda p: f"a=rtcp:{p} IN IP4 10.9.9.9"),
        st.text(st.characters(blacklist_characters="\r\n"), max_size=12).map(
            lambda v: f"a=rtcp:{v}"
        ),
        st.sampled_from(["a=sendonly", "a=recvonly", "a=inactive", "a=ptime:20", "a=x"]),
    ),
    max_size=4,
)


@st.composite
def offers(draw: st.DrawFn) -> str:
    pts = draw(st.lists(st.integers(0, 127), min_size=1, max_size=5, unique=True))
    names = [draw(st.sampled_from([*CODEC_LINES, None])) for _ in pts]
    port = draw(st.integers(0, 65535))
    lines = [f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}"]
    lines += [f"a=rtpmap:{pt} {CODEC_LINES[n]}" for pt, n in zip(pts, names, strict=True) if n]
    lines += draw(rtcp_attributes)
    body = [lines[0], *draw(st.permutations(lines[1:]))]  # attributes in any order
    return HEAD + "\r\n".join(body) + "\r\n"


@given(offers(), st.booleans(), st.one_of(st.none(), st.integers(96, 127)))
def test_any_offer_we_parse_yields_an_answer_we_read_back(
    text: str, want_mux: bool, our_event: int | None
) -> None:
    try:
        theirs = sdp.parse(text).endpoint
    except sdp.SdpError:
        return  # refused (488), which is allowed; anything else escaping is the bug
    if theirs.port == 0:
        return  # declined stream: nothing to answer
    ours = MediaEndpoint("192.0.2.1", 30000, OURS.codecs, our_event, rtcp_mux=want_mux)
    answer = sdp.answer_codecs(theirs, ours)
    back = sdp.parse(sdp.build(answer, session_id=5, version=2)).endpoint
    assert back == answer
    assert back.rtcp_mux == (theirs.rtcp_mux and want_mux)  # never mux unless offered
    assert back.codecs[0] in theirs.codecs  # the offerer's number for the codec
    expected_event = theirs.telephone_event_pt if our_event is not None else None
    assert back.telephone_event_pt == expected_event
    if theirs.rtcp_port is not None:
        assert 1 <= theirs.rtcp_port <= 65535 and not theirs.rtcp_mux


@given(st.text(max_size=300), rtcp_attributes)
def test_parsing_garbage_raises_only_sdp_error(noise: str, attributes: list[str]) -> None:
    text = HEAD + "m=audio 7000 RTP/AVP 0\r\n" + "\r\n".join(attributes) + "\r\n" + noise
    with contextlib.suppress(sdp.SdpError):  # a 488; any other exception fails the test
        sdp.parse(text)
