-- The channels an alert rule notifies, as a relation rather than a JSON
-- array in alert_rules.channels: the notification flush and channel
-- deletion look rules up by channel with a plain join, the same on every
-- backend. One row per entry of the rule's list, in its order (pos), so
-- the list reads back exactly as it was given.
CREATE TABLE alert_rule_channels (
  rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  pos     INTEGER NOT NULL,
  channel TEXT NOT NULL,
  PRIMARY KEY (rule_id, pos)
);
CREATE INDEX alert_rule_channels_by_channel ON alert_rule_channels(channel, rule_id);

INSERT INTO alert_rule_channels(rule_id, pos, channel)
  SELECT r.id, j.key, j.value FROM alert_rules r, json_each(r.channels) j
  WHERE j.type = 'text';

ALTER TABLE alert_rules DROP COLUMN channels;
