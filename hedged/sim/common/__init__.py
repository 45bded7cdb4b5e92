"""Simulator core shared by the venue simulators (see docs/simulators.md).

* `market`: pure seeded market model (`Market`, `MarketSettings`, `VenueBook`, `match_resting`).
* `faults`: seeded, scriptable fault plan (`FaultPlan`, `Fault`, `FaultKind`, `fault_from_json`).
* `frames`: `FrameWriter`, a connection's outgoing frames (and their seq) through the fault plan.
* `transport`: handler protocols, in-memory httpx transport and WebSocket connector, socket serving.
"""

from hedged.sim.common.faults import Fault, FaultKind, FaultPlan, fault_from_json
from hedged.sim.common.frames import FrameWriter
from hedged.sim.common.market import Fill, Flow, Market, MarketSettings, RestingOrder, VenueBook, match_resting
from hedged.sim.common.transport import (
    MemoryHttpTransport,
    MemoryWsConnector,
    RestHandler,
    SimRequest,
    SimResponse,
    SocketServer,
    WsHandler,
    serve_tcp,
)

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FrameWriter",
    "Fill",
    "Flow",
    "Market",
    "MarketSettings",
    "MemoryHttpTransport",
    "MemoryWsConnector",
    "RestHandler",
    "RestingOrder",
    "SimRequest",
    "SimResponse",
    "SocketServer",
    "VenueBook",
    "WsHandler",
    "fault_from_json",
    "match_resting",
    "serve_tcp",
]
