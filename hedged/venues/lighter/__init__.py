"""Lighter (hedge leg): the `VenueClient` adapter and its settings.

    from hedged.venues.lighter import LighterClient, LighterSettings

    client = LighterClient(settings, rng=random.Random(seed))          # real network
    client = LighterClient(settings, rng=rng, http_transport=sim.http_transport(),
                           ws_connect=sim.connect_ws, wall_clock=wall)  # in-memory simulator
    async with trio.open_nursery() as n:
        await n.start(client.run, events_send_channel)                  # ready = subscribed + re-synced

Modules: wire (msgspec shapes, frame decoding), markets (integer encodings), normalize (wire ->
base.py events), rest (httpx, typed errors, tier
limits), nonces (nonce manager, auth tokens), streams (the WebSocket session), book (nonce-chain
continuity), ids (client order indexes), signing (ctypes signer), settings (LighterSettings),
account (stream frames and re-syncs -> events), client (the VenueClient).
"""

from hedged.venues.lighter.client import LighterClient, LighterSettings

__all__ = ["LighterClient", "LighterSettings"]
