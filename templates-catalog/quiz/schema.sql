CREATE TABLE IF NOT EXISTS questions (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  prompt TEXT NOT NULL,
  choices TEXT NOT NULL, -- JSON array of answer strings
  answer INTEGER NOT NULL, -- index into choices
  position INTEGER NOT NULL DEFAULT 0,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  player TEXT,
  score INTEGER NOT NULL,
  total INTEGER NOT NULL,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
