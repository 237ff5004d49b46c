#!/bin/bash
# A hand-made PID-1 wrapper of the common kind, written for the benchmark (not part of pidone):
# runs the app in the background, forwards SIGTERM/SIGINT, restarts the app on SIGUSR1, and
# every 5 s looks for a trigger file and for the app's death (then restarts it).
# `sleep 5 & wait` rather than a bare `sleep 5`: bash runs a trap only between commands, so a
# foreground sleep would hold SIGTERM back for up to 5 s; `wait` returns as soon as a trapped
# signal arrives.
trigger=${TRIGGER_FILE:-.restart_trigger}
app=("$@")

start() { "${app[@]}" & child=$!; }
stop() { kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; }

restart=0
trap 'restart=1' USR1
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT

start
while true; do
  sleep 5 & sleeper=$!
  wait "$sleeper"
  kill "$sleeper" 2>/dev/null
  if [ "$restart" = 1 ]; then
    restart=0; stop; start
  elif [ -e "$trigger" ]; then
    rm -f "$trigger"; stop; start
  elif ! kill -0 "$child" 2>/dev/null; then
    start
  fi
done
