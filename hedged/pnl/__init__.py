"""PnL (issue 14): the pure book (`core`), the journal reader (`history`) and the daemon's tracker
(`tracker`). See docs/pnl.md."""
