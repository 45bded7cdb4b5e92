"""Extended (Starknet perps) adapter: the maker leg.

`from hedged.venues.extended import ExtendedClient, ExtendedSettings`. The names are
loaded lazily so that importing a sibling module (e.g. the simulator's) does not pay
for the x10 SDK import.
"""

from typing import Any

__all__ = ["ExtendedClient", "ExtendedSettings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hedged.venues.extended import client

        return getattr(client, name)
    raise AttributeError(name)
