"""Extended simulator: `server` (ExtendedSim, the Trio layer), `engine` (orders, fills, money; pure), `checks`
(body validation + Stark signature), `wire` (JSON shapes), `rest`, `streams`, `control`, `config`."""
