"""The one MetaData every slice's store declares its tables on.

Slices register tables by importing this; `paycore.tables` imports every store so
that tools which need the whole schema (migrations check, test truncation) see it.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
