"""SDP offer/answer: what SIPp and baresip send, what we answer, what we refuse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.telephony.ports import MediaEndpoint
from jietong.telephony.sip import sdp

SIPP = (
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
BARESIP = (
    "v=0\r\no=- 1563931235 3407565297 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\nm=audio 10430 RTP/AVP 96 9 0 8 101\r\nb=AS:64\r\na=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    "a=sendrecv\r\na=label:1\r\na=ssrc:1 cname:x\r\na=rtcp-mux\r\n"
)


def test_sipp_offer() -> None:
    offer = sdp.parse(SIPP)
    assert offer.endpoint == MediaEndpoint("127.0.0.1", 6000, (("PCMU", 0),), None)


def test_baresip_offer_keeps_g711_in_order_and_telephone_event() -> None:
    offer = sdp.parse(BARESIP)
    assert offer.endpoint.host == "192.168.1.20" and offer.endpoint.port == 10430
    assert offer.endpoint.codecs == (("PCMU", 0), ("PCMA", 8))
    assert offer.endpoint.telephone_event_pt == 101
    assert offer.direction == "sendrecv"


def test_lf_only_media_level_connection_and_dynamic_names() -> None:
    text = (
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n"
        "m=video 5000 RTP/AVP 97\n"
        "m=audio 7000 RTP/AVP 110 8 111\nc=IN IP4 10.0.0.2\n"
        "a=rtpmap:110 pcmu/8000\na=rtpmap:111 TELEPHONE-EVENT/8000\na=sendonly\n"
    )
    offer = sdp.parse(text)
    assert offer.endpoint == MediaEndpoint("10.0.0.2", 7000, (("PCMU", 110), ("PCMA", 8)), 111)
    assert offer.direction == "sendonly"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        SIPP.replace("m=audio 6000 RTP/AVP 0", "m=audio 6000 RTP/AVP 9"),  # G.722 only
        SIPP.replace("IN IP4 127.0.0.1\r\nt", "IN IP6 ::1\r\nt"),
        SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 media.example.com"),
        SIPP.replace("c=IN IP4 127.0.0.1\r\n", ""),
        SIPP.replace("6000", "99999"),
        SIPP.replace("RTP/AVP 0", "RTP/AVP x"),
        SIPP + "a=" + "x" * 9000,
    ],
)
def test_unusable_sdp_is_refused(text: str) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.parse(text)


def test_answer_takes_the_offerers_first_common_codec_and_numbers() -> None:
    offer = MediaEndpoint("1.2.3.4", 4000, (("PCMA", 8), ("PCMU", 0)), 96)
    ours = MediaEndpoint("10.0.0.5", 20000, (("PCMU", 0), ("PCMA", 8)), 101)
    answer = sdp.answer_codecs(offer, ours)
    assert answer == MediaEndpoint("10.0.0.5", 20000, (("PCMA", 8),), 96)
    no_events = sdp.answer_codecs(MediaEndpoint("1.2.3.4", 4000, (("PCMU", 0),), None), ours)
    assert no_events.telephone_event_pt is None
    with pytest.raises(sdp.SdpError):
        sdp.answer_codecs(offer, MediaEndpoint("10.0.0.5", 20000, (), None))


def test_built_sdp_has_crlf_and_the_version_given() -> None:
    text = sdp.build(MediaEndpoint("10.0.0.5", 20000), session_id=7, version=3)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert "o=jietong 7 3 IN IP4 10.0.0.5" in text
    assert "m=audio 20000 RTP/AVP 0 8 101" in text
    assert "a=fmtp:101 0-16" in text


endpoints = st.builds(
    MediaEndpoint,
    host=st.ip_addresses(v=4).map(str),
    port=st.integers(1, 65535),
    codecs=st.lists(
        st.tuples(st.sampled_from(["PCMU", "PCMA"]), st.integers(0, 127)),
        min_size=1,
        max_size=2,
        unique_by=(lambda c: c[0], lambda c: c[1]),
    ).map(tuple),
    telephone_event_pt=st.one_of(st.none(), st.integers(96, 127)),
)


@given(endpoints)
def test_what_we_build_parses_back_to_the_same_endpoint(endpoint: MediaEndpoint) -> None:
    if endpoint.telephone_event_pt in {pt for _, pt in endpoint.codecs}:
        return  # a payload type used twice is not a valid endpoint
    # Static numbers 0 and 8 name their codec; our rtpmap lines make any number explicit.
    assert sdp.parse(sdp.build(endpoint, session_id=1, version=1)).endpoint == endpoint
