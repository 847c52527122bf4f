"""Acme: a fictional broker, written the way a third-party brokerauth plugin is written."""
