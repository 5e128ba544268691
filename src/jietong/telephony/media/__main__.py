"""``python -m jietong.telephony.media``: run one media process (see ``run``)."""

from __future__ import annotations

from jietong.telephony.media.main import main

if __name__ == "__main__":
    raise SystemExit(main())
