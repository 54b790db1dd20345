-- Alertmanager as a channel type.
ALTER TABLE channels DROP CONSTRAINT channels_type_check;
ALTER TABLE channels ADD CONSTRAINT channels_type_check
  CHECK (type IN ('webhook', 'slack', 'mattermost', 'discord', 'teams', 'alertmanager'));
