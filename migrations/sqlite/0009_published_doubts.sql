-- What widened each published point's band (forecast::confidence::Doubts), one bit per doubt;
-- forecasts published before hold none.
ALTER TABLE published ADD COLUMN doubts INTEGER NOT NULL DEFAULT 0;
