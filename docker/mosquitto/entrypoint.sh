#!/bin/sh
# Create the dynamic-security file on first start, with the platform account as
# its only administrator, then run the broker.
set -eu
data=/mosquitto/data
if [ ! -f "$data/dynamic-security.json" ]; then
  : "${MQTT_USERNAME:?MQTT_USERNAME must be set}" "${MQTT_PASSWORD:?MQTT_PASSWORD must be set}"
  mosquitto_ctrl dynsec init "$data/dynamic-security.json" "$MQTT_USERNAME" "$MQTT_PASSWORD"
  chown -R mosquitto:mosquitto "$data" 2>/dev/null || true
fi
exec mosquitto -c /mosquitto/config/mosquitto.conf
