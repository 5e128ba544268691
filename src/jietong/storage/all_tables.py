"""Import every table module so that one metadata describes the whole schema."""

from jietong.storage import (  # noqa: F401
    tables,
    tables_channels,
    tables_desktop,
    tables_email,
    tables_routing,
    tables_sip,
    tables_voice,
    tables_webchat,
    tables_wechat,
)
from jietong.storage.tables import Base

metadata = Base.metadata
