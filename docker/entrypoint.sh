#!/bin/sh
# Container entry point: creates the instance in the volume on the first start (keys are made in
# the container that uses them, never baked into the image), then runs the daemon in the
# foreground (it starts and supervises mosquitto itself: managed mode).
set -eu
DIR=/var/lib/smartproduct
if [ ! -f "$DIR/smartproduct.toml" ]; then
  smartproductctl init --dir "$DIR" --hostname "${SP_HOSTNAME:-localhost}" >/dev/null
  smartproductctl ca create --name dev --dir "$DIR" >/dev/null
  echo "smartproduct: instance created in the volume $DIR"
fi
cat <<MSG
smartproduct: console https://${SP_HOSTNAME:-localhost}:8443/ (certificate authority: docker cp <container>:$DIR/pki/root-ca.crt .)
  first administrator: echo 'a long passphrase' | docker exec -i <container> smartproductctl user add --email admin@example.com --admin --password-stdin
  or sign up in the console; the verification code is in the log (docker logs <container> | grep 'verification code')
MSG
exec smartproductd --config "$DIR/smartproduct.toml"
