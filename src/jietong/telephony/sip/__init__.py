"""SIP signaling on sippy (issue 6): `SipSignaling` implements `ports.CallSignaling`;
the registrar, digest authentication, trunks and the admin API for phones and trunks.
See docs/subsystems/voice-sip.md."""
