"""The sippy pin and the two fixes, at the unit level (the wire-level regressions are in
tests/integration/telephony/test_sip_inbound.py)."""

from __future__ import annotations

from importlib.metadata import version

from sippy.SipRequest import SipRequest
from sippy.SipResponse import SipResponse
from sippy.Udp_server import Udp_server, Udp_server_opts

from jietong.telephony.sip import stack


def test_sippy_is_the_version_the_fixes_were_made_for() -> None:
    # An upgrade must re-run the reply-order and Contact-transport regressions first.
    assert version("sippy") == "2.5.0"


def test_one_sender_worker() -> None:
    assert stack.OneWorkerOpts.nworkers == 1
    assert Udp_server_opts.nworkers > 1  # the default this fixes
    assert stack.NormalisingTransactionManager.model_udp_server == (Udp_server, stack.OneWorkerOpts)


REQUEST = (
    "INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    "From: <sip:200@127.0.0.1>;tag=a\r\nTo: <sip:100@127.0.0.1>\r\n"
    "Call-ID: x@y\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:sipp@127.0.0.1:5061;transport=UDP>, <sip:b@127.0.0.1:5062;transport=Udp>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_contact_transports_are_lowercased_in_requests_and_responses() -> None:
    request = SipRequest(REQUEST)
    stack.normalise_contacts(request)
    assert [c.getUrl().transport for c in request.getHFBodys("contact")] == ["udp", "udp"]
    response = SipResponse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
        "From: <sip:200@127.0.0.1>;tag=a\r\nTo: <sip:100@127.0.0.1>;tag=b\r\n"
        "Call-ID: x@y\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:5063;transport=UDP>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    stack.normalise_contacts(response)
    url = response.getHFBody("contact").getUrl()
    assert url.transport == "udp" and url.getTAddr() == (("127.0.0.1", 5063), "udp")


def test_a_star_contact_and_no_transport_are_left_alone() -> None:
    star = SipRequest(
        REQUEST.replace("INVITE sip", "REGISTER sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 REGISTER")
        .split("Contact:")[0]
        + "Contact: *\r\nContent-Length: 0\r\n\r\n"
    )
    stack.normalise_contacts(star)
    plain = SipRequest(REQUEST.replace(";transport=UDP", "").replace(";transport=Udp", ""))
    stack.normalise_contacts(plain)
    assert [c.getUrl().transport for c in plain.getHFBodys("contact")] == [None, None]
