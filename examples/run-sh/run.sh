#!/bin/sh
# A run.sh app: remote:run-sh runs it in the default image.
echo "run.sh app: $(uname -s) $(id -u)"
httpd -p 9000 -h /app && echo "serving /app on port 9000 for 3 seconds" && sleep 3
