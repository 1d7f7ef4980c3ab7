// libyaml (MIT licence), from Debian's libyaml-dev (pkg-config: yaml-0.1):
// the YAML parser that reads the lab file (radio-cli --port NAME, places).
#include <yaml.h>
