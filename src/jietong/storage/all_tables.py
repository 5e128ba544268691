"""Import every table module so that one metadata describes the whole schema."""

from jietong.storage import tables, tables_channels, tables_routing  # noqa: F401
from jietong.storage.tables import Base

metadata = Base.metadata
