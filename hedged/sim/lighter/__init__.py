"""Lighter simulator: `server` (LighterSim, the Trio layer), `exchange` (accounts, nonces, orders, matching; pure),
`tx` (tx decoding and checks), `render` (venue JSON), `rest`, `ws`, `feed`, `control`, `settings`, `money`."""
