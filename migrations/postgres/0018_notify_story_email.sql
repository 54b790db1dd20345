-- What a notification tells. An episode keeps the value it fired with
-- apart from the latest one (`value`) and from the one it resolved with,
-- and the version that value was measured on (after a rollback it is not
-- the version that fired). Which channels were told that an episode fired
-- is recorded, so an episode that fired and resolved before its group was
-- sent is told as fired, then resolved.
ALTER TABLE alerts ADD COLUMN fired_value DOUBLE PRECISION;
ALTER TABLE alerts ADD COLUMN resolved_value DOUBLE PRECISION;
ALTER TABLE alerts ADD COLUMN resolved_version BIGINT;
UPDATE alerts SET fired_value = value WHERE fired_at IS NOT NULL;
UPDATE alerts SET resolved_value = value WHERE state = 'resolved';

CREATE TABLE alert_fired_sent (
  alert_id BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  channel  TEXT NOT NULL,
  PRIMARY KEY (alert_id, channel)
);
-- Episodes that fired before this migration count as told: none is
-- announced again as a firing after the upgrade.
INSERT INTO alert_fired_sent(alert_id, channel)
  SELECT a.id, rc.channel FROM alerts a
  JOIN alert_rule_channels rc ON rc.rule_id = a.rule_id
  WHERE a.fired_at IS NOT NULL;

-- Email channels: the type, and what a channel of a type needs beyond its
-- URL: settings (JSON text: an email channel's {to, from}) and the
-- credentials it logs in with (username, password: a secret, never
-- returned by the API).
ALTER TABLE channels DROP CONSTRAINT channels_type_check;
ALTER TABLE channels ADD CONSTRAINT channels_type_check
  CHECK (type IN ('webhook', 'slack', 'mattermost', 'discord', 'teams', 'alertmanager',
                  'email'));
ALTER TABLE channels ADD COLUMN settings TEXT;
ALTER TABLE channels ADD COLUMN username TEXT;
ALTER TABLE channels ADD COLUMN password TEXT;
