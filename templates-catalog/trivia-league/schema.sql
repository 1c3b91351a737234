CREATE TABLE IF NOT EXISTS questions (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  category TEXT NOT NULL,
  prompt TEXT NOT NULL,
  choices TEXT NOT NULL, -- JSON array of answer strings
  answer INTEGER NOT NULL, -- index into choices
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS players (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS round_results (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  player_id INTEGER NOT NULL REFERENCES players(id),
  round_no INTEGER NOT NULL,
  category TEXT NOT NULL,
  correct INTEGER NOT NULL DEFAULT 0,
  league_points INTEGER NOT NULL DEFAULT 0,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
