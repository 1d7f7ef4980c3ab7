# The two commands: `make run` (a lab session against the simulator) and
# `make test` (everything CI runs). Both install what they need first.

SHELL          := /bin/bash
SWIFT          ?= swift
BUILD_FLAGS    ?=
# System packages the build and tests use. libudev-dev is for device
# discovery; util-linux gives setpriv (the permission test) and unshare (the
# udev rules test); udev gives udevadm; umockdev, its GObject bindings and
# python3-gi mock USB-serial devices for the discovery tests; ser2net is the
# real serial-port server the tcp:// and rfc2217:// tests run against.
# gcc-arm-none-eabi and qemu-system-arm build the reference firmware and run
# it on an emulated Cortex-M3 (Simulator/firmware). prometheus brings promtool
# and the server the metrics tests scrape `serve --metrics` with; chromium
# (headless) loads the performance dashboard in its test.
SYSTEM_PACKAGES := libudev-dev libedit-dev libyaml-dev pkgconf python3 util-linux udev umockdev libumockdev-dev gir1.2-umockdev-1.0 python3-gi \
                   ser2net gcc-arm-none-eabi qemu-system-arm prometheus chromium fonts-dejavu-core systemd
BIN             = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)
SIM_LINK        = .build/radio-sim.pty

.PHONY: all run test test-unit test-integration test-e2e tsan bench bench-fast bench-slow bench-check \
        bench-baseline bench-alloc-check bench-gate-demo bench-floor bench-probe bench-firmware bench-daemon bench-metrics bench-shell bench-hil bench-startup labgrid-check daemon-costs build deps vectors vectors-write clean \
        udev-rules udev-rules-check install-udev install uninstall install-check build-info soak fuzz firmware firmware-core-check

all: build

deps:
	@command -v $(SWIFT) >/dev/null || { echo "make: the Swift toolchain (swift) is not on PATH" >&2; exit 69; }
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing" >&2; \
	    echo "install them with: sudo apt-get install -y$$missing" >&2; \
	    exit 69; \
	  fi; \
	fi

build: deps build-info
	$(SWIFT) build $(BUILD_FLAGS)

# The commit `--version` reports: Sources/CRadioSystem/build_info.h (not in
# git), rewritten only when the commit changes, so nothing else recompiles.
BUILD_INFO := Sources/CRadioSystem/build_info.h
build-info:
	@commit=$$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown); \
	line="#define RADIO_GIT_COMMIT \"$$commit\""; \
	[ "$$(cat $(BUILD_INFO) 2>/dev/null)" = "$$line" ] || echo "$$line" > $(BUILD_INFO)

# A short lab session: radio-sim stands in for the radio on a real pty (so
# the radio keeps its state between commands, as hardware would), and
# radio-cli talks to it through the same termios code as /dev/ttyUSB0.
run: build firmware
	@set -e; bin="$(BIN)"; \
	echo "\$$ radio-cli set-power 20.5; radio-cli get-state   # zero config: this user's simulator (port user-sim)"; \
	RADIO_PORT= "$$bin/radio-cli" set-power 20.5; RADIO_PORT= "$$bin/radio-cli" get-state; \
	echo; echo "\$$ radio-sim --stop           # it kept the setting between commands, as hardware would"; \
	"$$bin/radio-sim" --stop; echo; \
	rm -f $(SIM_LINK); \
	"$$bin/radio-sim" --link $(SIM_LINK) > .build/radio-sim.out & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null; rm -f $(SIM_LINK)' EXIT; \
	for i in $$(seq 50); do [ -s .build/radio-sim.out ] && break; sleep 0.1; done; \
	echo "\$$ radio-sim --link $(SIM_LINK) &   # a simulated radio on $$(head -n1 .build/radio-sim.out)"; \
	export RADIO_PORT=$(SIM_LINK); \
	for cmd in "info" "set-power 20.5" "set-channel 42" "get-state" "ping --count 3 --interval 0.05"; do \
	  echo; echo "\$$ RADIO_PORT=$(SIM_LINK) radio-cli $$cmd"; \
	  "$$bin/radio-cli" $$cmd; \
	done; \
	echo; echo "\$$ radio-cli set-power 45     # out of range: one line on stderr, exit 65"; \
	"$$bin/radio-cli" set-power 45 || echo "(exit status $$?)"; \
	echo; echo "\$$ radio-cli serve --port $(SIM_LINK) --listen 127.0.0.1:0 &   # share the radio"; \
	"$$bin/radio-cli" serve --quiet --port $(SIM_LINK) --listen 127.0.0.1:0 > .build/serve.out 2> .build/serve.log & serve=$$!; \
	trap 'kill $$serve 2>/dev/null; wait $$serve 2>/dev/null; kill $$sim 2>/dev/null; wait $$sim 2>/dev/null; rm -f $(SIM_LINK)' EXIT; \
	for i in $$(seq 100); do grep -q '^listening' .build/serve.out 2>/dev/null && break; sleep 0.05; done; \
	url=$$(sed -n 's/^listening on //p' .build/serve.out | head -n1); cat .build/serve.out; \
	"$$bin/radio-cli" monitor --port $$url --count 5 > .build/monitor.out 2>&1 & mon=$$!; \
	echo; echo "\$$ radio-cli load --port $$url --clients 4 --rate 400 --duration 1   # one tool drives it..."; \
	"$$bin/radio-cli" load --port $$url --clients 4 --rate 400 --duration 1 --quiet; \
	wait $$mon; echo; echo "\$$ radio-cli monitor --port $$url --count 5   # ...while another watched, at the same time"; \
	cat .build/monitor.out; \
	echo; echo "\$$ radio-cli info --port qemu   # the C reference firmware on an emulated Cortex-M3 (make firmware)"; \
	"$$bin/radio-cli" info --port qemu

vectors: deps
	python3 scripts/vectors.py --check
	python3 scripts/conform-vectors.py --check

vectors-write:
	python3 scripts/vectors.py --write

# udev-rules/60-radio.rules and RadioDiscovery's ID table are generated from
# udev-rules/adapters.tsv; `make test` fails when they are out of date.
udev-rules:
	python3 scripts/udev-rules.py --write
udev-rules-check:
	python3 scripts/udev-rules.py --check

# Installs the rules and reloads udev; not as root, prints what it would do.
UDEV_RULES_DIR ?= /etc/udev/rules.d
install-udev: udev-rules-check
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "install-udev: not root; as root it would run:"; \
	  echo "  install -m 0644 udev-rules/60-radio.rules $(UDEV_RULES_DIR)/60-radio.rules"; \
	  echo "  udevadm control --reload-rules"; \
	  echo "  udevadm trigger --action=change --subsystem-match=tty --subsystem-match=usb-serial"; \
	  echo "so: sudo make install-udev"; \
	else \
	  install -D -m 0644 udev-rules/60-radio.rules $(UDEV_RULES_DIR)/60-radio.rules; \
	  echo "installed $(UDEV_RULES_DIR)/60-radio.rules"; \
	  if udevadm control --reload-rules 2>/dev/null; then \
	    udevadm trigger --action=change --subsystem-match=tty --subsystem-match=usb-serial; \
	    echo "udev reloaded; attached radios re-evaluated (radio-cli list shows them)"; \
	  else \
	    echo "udev is not running here: the rules apply from its next start"; \
	  fi; \
	fi

# make install [PREFIX=/usr/local] [DESTDIR=]: release builds of radio-cli and
# radio-sim with the Swift runtime linked in (no dependency on the
# toolchain), bash/zsh/fish completions and man pages generated by
# swift-argument-parser from the --help text (a blank line, which mdoc
# warns about, made a paragraph break), and the udev rules (with
# DESTDIR, copied only; without, through install-udev, which reloads udev).
# Built in .build-install, so the debug and benchmark builds are untouched.
PREFIX         ?= /usr/local
DESTDIR        ?=
INSTALL_SCRATCH = .build-install
INSTALL_BUILD   = $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(INSTALL_SCRATCH)
MANUALS         = $(INSTALL_SCRATCH)/plugins/GenerateManual/outputs
install: deps build-info udev-rules-check
	rm -rf $(MANUALS)
	# The manual plugin builds the tools its own way (dynamically linked):
	# first, so that the static builds below are the ones installed.
	$(SWIFT) package --scratch-path $(INSTALL_SCRATCH) plugin generate-manual --multi-page --configuration release >/dev/null
	$(INSTALL_BUILD) --product radio-cli
	$(INSTALL_BUILD) --product radio-sim
	@set -e; bin=$$($(INSTALL_BUILD) --show-bin-path); root="$(DESTDIR)$(PREFIX)"; \
	install -d "$$root/bin" "$$root/share/man/man1" "$$root/share/bash-completion/completions" \
	  "$$root/share/zsh/site-functions" "$$root/share/fish/vendor_completions.d"; \
	for t in radio-cli radio-sim; do \
	  install -m 0755 "$$bin/$$t" "$$root/bin/$$t"; \
	  "$$bin/$$t" --generate-completion-script bash > "$$root/share/bash-completion/completions/$$t"; \
	  "$$bin/$$t" --generate-completion-script zsh > "$$root/share/zsh/site-functions/_$$t"; \
	  "$$bin/$$t" --generate-completion-script fish > "$$root/share/fish/vendor_completions.d/$$t.fish"; \
	  for m in $(MANUALS)/$$t/*.1; do \
	    case "$$m" in *.help.1) continue;; esac; \
	    sed 's/^$$/.Pp/' "$$m" > "$$root/share/man/man1/$$(basename "$$m")"; \
	    chmod 0644 "$$root/share/man/man1/$$(basename "$$m")"; \
	  done; \
	done; \
	install -d "$$root/lib/systemd/system"; \
	sed 's|@BINDIR@|$(PREFIX)/bin|' docs/systemd/radio-serve@.service > "$$root/lib/systemd/system/radio-serve@.service"; \
	chmod 0644 "$$root/lib/systemd/system/radio-serve@.service"; \
	echo "installed radio-cli and radio-sim in $$root/bin, their completions and man pages in $$root/share," \
	  "the systemd unit radio-serve@.service in $$root/lib/systemd/system"
	@if [ -n "$(DESTDIR)" ]; then \
	  install -D -m 0644 udev-rules/60-radio.rules "$(DESTDIR)$(UDEV_RULES_DIR)/60-radio.rules"; \
	  echo "installed $(DESTDIR)$(UDEV_RULES_DIR)/60-radio.rules"; \
	else \
	  $(MAKE) --no-print-directory install-udev; \
	fi

uninstall:
	@root="$(DESTDIR)$(PREFIX)"; \
	rm -fv "$$root/bin/radio-cli" "$$root/bin/radio-sim" \
	  "$$root/share/bash-completion/completions/radio-cli" "$$root/share/bash-completion/completions/radio-sim" \
	  "$$root/share/zsh/site-functions/_radio-cli" "$$root/share/zsh/site-functions/_radio-sim" \
	  "$$root/share/fish/vendor_completions.d/radio-cli.fish" "$$root/share/fish/vendor_completions.d/radio-sim.fish" \
	  "$$root"/share/man/man1/radio-cli.1 "$$root"/share/man/man1/radio-cli.*.1 \
	  "$$root"/share/man/man1/radio-sim.1 "$$root"/share/man/man1/radio-sim.*.1 \
	  "$$root/lib/systemd/system/radio-serve@.service" \
	  "$(DESTDIR)$(UDEV_RULES_DIR)/60-radio.rules"

# `make install` into a temporary DESTDIR, every file checked, the
# installed binaries run with no toolchain on their paths, then uninstalled
# (part of `make test`).
install-check: deps
	scripts/install-check.sh

: the C core of
# Sources/RadioFirmware on a TI LM3S6965 (Cortex-M3), which QEMU's
# lm3s6965evb board runs with its UART0 on a pty (radio-sim --firmware).
FW_DIR      := .build/firmware
FW_IMAGE    := $(FW_DIR)/radio-fw.elf
FW_CORE     := Sources/RadioFirmware
FW_SOURCES  := $(FW_CORE)/radio_fw.c Simulator/firmware/board.c Simulator/firmware/main.c
FW_CFLAGS   := -mcpu=cortex-m3 -mthumb -Os -g -std=c99 -Wall -Wextra -Werror -pedantic -ffreestanding \
               -ffunction-sections -fdata-sections -I$(FW_CORE)/include
STRICT_C99  := -std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wconversion -Wcast-qual -Wstrict-prototypes

firmware: deps $(FW_IMAGE)
	@echo "protocol core alone (radio_fw.o) and the whole image, arm-none-eabi-size:"
	@arm-none-eabi-size $(FW_DIR)/radio_fw.o $(FW_IMAGE)

$(FW_IMAGE): $(FW_SOURCES) $(FW_CORE)/include/radio_fw.h Simulator/firmware/board.h Simulator/firmware/lm3s6965.ld
	@mkdir -p $(FW_DIR)
	arm-none-eabi-gcc $(FW_CFLAGS) -c $(FW_CORE)/radio_fw.c -o $(FW_DIR)/radio_fw.o
	arm-none-eabi-gcc $(FW_CFLAGS) -ISimulator/firmware -c Simulator/firmware/board.c -o $(FW_DIR)/board.o
	arm-none-eabi-gcc $(FW_CFLAGS) -ISimulator/firmware -c Simulator/firmware/main.c -o $(FW_DIR)/main.o
	arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -nostdlib -T Simulator/firmware/lm3s6965.ld -Wl,--gc-sections \
	  -Wl,-Map=$(FW_DIR)/radio-fw.map $(FW_DIR)/main.o $(FW_DIR)/board.o $(FW_DIR)/radio_fw.o -lgcc -o $@

# The core compiles warning-free as strict C99 with the host compiler too
# (clang, from the Swift toolchain; the cross build above is gcc).
firmware-core-check: deps
	@mkdir -p $(FW_DIR)
	clang $(STRICT_C99) -I$(FW_CORE)/include -c $(FW_CORE)/radio_fw.c -o $(FW_DIR)/radio_fw-clang.o

test: deps build-info vectors udev-rules-check firmware firmware-core-check
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	$(SWIFT) test $(BUILD_FLAGS) --skip-build
	scripts/install-check.sh

# The CI matrix's slices of `make test`.
test-unit: deps vectors udev-rules-check
	$(SWIFT) test $(BUILD_FLAGS) --filter 'RadioProtocolTests|RadioFirmwareTests|LinePacerTests|TelemetryHubTests'
test-integration: deps firmware
	$(SWIFT) test $(BUILD_FLAGS) --filter 'RadioDriverTests'
test-e2e: deps firmware
	$(SWIFT) test $(BUILD_FLAGS) --filter 'EndToEndTests'

# package-benchmark suites (bench/Benchmarks/*), built in their own folder
# so that the benchmark framework never enters the normal build.
bench: deps
	RADIO_BENCHMARKS=1 $(SWIFT) package --scratch-path .build-bench benchmark

# The performance pipeline (README, "Performance pipeline"): reports in
# performance-reports/, the gate against performance-reports/baseline.json.
bench-fast: deps
	scripts/performance-monitor.sh fast
bench-slow: deps
	scripts/performance-monitor.sh slow
# The gate runs the fast suite with 7 rounds, each benchmark round its own
# process (see scripts/perfreport.py for what it compares).
GATE_ROUNDS ?= 7
bench-check: deps
	RADIO_BENCH_ROUNDS=$(GATE_ROUNDS) scripts/performance-monitor.sh fast
	python3 scripts/perfreport.py check performance-reports/latest-fast.json performance-reports/baseline.json
# A new baseline from three fast runs of $(GATE_ROUNDS) rounds each.
bench-baseline: deps
	@rm -rf .build/baseline-runs
	for i in 1 2 3; do RADIO_BENCH_ROUNDS=$(GATE_ROUNDS) RADIO_REPORT_DIR=.build/baseline-runs/$$i scripts/performance-monitor.sh fast >/dev/null || exit 1; done
	python3 scripts/perfreport.py baseline performance-reports/baseline.json .build/baseline-runs/*/latest-fast.json
# Allocation counts are deterministic: CI gates them on every run.
bench-alloc-check: bench-fast
	python3 scripts/perfreport.py check performance-reports/latest-fast.json performance-reports/baseline.json --allocations-only
bench-gate-demo: deps
	RADIO_BENCH_ROUNDS=$(GATE_ROUNDS) scripts/gate-demo.sh

# The raw pty floor (bench/ptyfloor, C) against radio-cli to a radio-sim
# process, measured in the same run.
bench-floor: deps
	scripts/pty-floor.sh

# What `radio-cli list --all` and `--probe` cost, next to process start-up.
bench-probe: deps
	scripts/probe-bench.sh

# Round trips to the firmware in QEMU, next to radio-sim's pty and the C floor.
bench-firmware: deps
	scripts/firmware-bench.sh

# The sharing daemon: 32 clients at 5,000 requests/s to loop://, and the
# daemon's added latency in front of radio-sim's pty (ROUNDS alternations).
ROUNDS ?= 5
bench-daemon: deps
	scripts/daemon-bench.sh $(ROUNDS)

# What Prometheus scrapes cost the radio path: load with no scrapes, a scrape
# a second, and scrapes back to back, alternated: make bench-metrics [ROUNDS=5]
bench-metrics: deps
	scripts/metrics-bench.sh $(ROUNDS)

# Commands per second through `radio-cli shell` on a pipe against one process
# per command, alternated in the same run: make bench-shell [ROUNDS=5]
bench-shell: deps
	scripts/shell-bench.sh $(ROUNDS)

# What starting radio-cli costs (instructions, syscalls, shared objects,
# wall time): make bench-startup [BASE=git-rev, measured in the same run]
# The daemon's instructions per forwarded request (callgrind), this build
# and BASE=rev's, in one run.
daemon-costs: deps
	bash scripts/daemon-costs.sh $(BASE)

# docs/labgrid/radio_driver.py under a real labgrid (PyPI, in a venv).
labgrid-check: build
	sh scripts/labgrid-check.sh

bench-startup: deps
	$(SWIFT) build -c release --product radio-cli
	@set -e; now="$$($(SWIFT) build -c release --show-bin-path)/radio-cli"; \
	if [ -n "$(BASE)" ]; then \
	  rm -rf .build/startup-base; git worktree add --detach .build/startup-base "$(BASE)" >/dev/null; \
	  (cd .build/startup-base && $(SWIFT) build -c release --product radio-cli --scratch-path ../startup-base-build >/dev/null); \
	  cp .build/startup-base-build/release/radio-cli .build/radio-cli-base; \
	  git worktree remove --force .build/startup-base; \
	  scripts/startup-bench.sh "$$now" .build/radio-cli-base; \
	else \
	  scripts/startup-bench.sh "$$now"; \
	fi

# Round trips on real hardware: make bench-hil PORT=/dev/ttyUSB0 [BAUD=115200] [COUNT=2000]
BAUD  ?= 115200
COUNT ?= 2000
bench-hil: deps
	@if [ -z "$(PORT)" ]; then \
	  echo "make bench-hil: no PORT given; it runs against attached hardware: make bench-hil PORT=/dev/ttyUSB0" >&2; \
	  exit 64; fi
	$(SWIFT) build -c release --product radio-cli
	@mkdir -p performance-reports
	"$$($(SWIFT) build -c release --show-bin-path)/radio-cli" bench --port "$(PORT)" --baud $(BAUD) --count $(COUNT) \
	  --command set-power,set-channel,get-state --json > .build/hil.json
	python3 scripts/perfreport.py hil .build/hil.json performance-reports

# libFuzzer on the frame decoder and message parser (fuzz-codec) and on the C
# firmware core against the Swift simulator (fuzz-firmware), FUZZ_TIME seconds
# each, seeded from docs/vectors.json; crashes and their inputs land in .build-fuzz/.
FUZZ_TIME ?= 60
FUZZ_TARGETS ?= fuzz-codec fuzz-firmware
fuzz: deps
	for t in $(FUZZ_TARGETS); do \
	  RADIO_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz --product $$t \
	    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xcc -fsanitize=fuzzer-no-link,address || exit 1; \
	done
	python3 scripts/fuzz-corpus.py .build-fuzz/corpus
	@cd .build-fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "== $$t"; mkdir -p corpus-$$t && cp -n corpus/* corpus-$$t/; \
	  ASAN_OPTIONS=quarantine_size_mb=32 SWIFT_BACKTRACE=enable=no ./release/$$t corpus-$$t -max_total_time=$(FUZZ_TIME) -rss_limit_mb=256 \
	    -malloc_limit_mb=64 -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::|Done|==|SUMMARY|INFO: seed)' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The full soak: 100,000 mixed commands through a pty under 1 % byte
# corruption, 1 % dropped request and response frames, fragmented writes;
# zero wrong results, zero hangs, flat memory (`make test` runs 1,000).
SOAK_COMMANDS ?= 100000
soak: deps
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	RADIO_SOAK_COMMANDS=$(SOAK_COMMANDS) $(SWIFT) test $(BUILD_FLAGS) --skip-build --filter SoakTests 2>&1 \
	  | grep -E '^soak:|passed|failed|Expectation'

# The whole suite again under ThreadSanitizer, in its own build folder,
# with fewer calls in the concurrency test and the fault tests' 300 ms
# deadlines ×4 (a sanitized build on two shared cores is that much slower).
tsan: deps firmware
	TSAN_OPTIONS="suppressions=$(CURDIR)/scripts/tsan-suppressions.txt $${TSAN_OPTIONS:-}" \
	RADIO_CONCURRENCY_PER_TASK=200 RADIO_DEADLINE_SCALE=4 \
	  $(SWIFT) test --sanitize=thread --scratch-path .build-tsan

clean:
	rm -rf .build .build-tsan .build-bench .build-fuzz bench/ptyfloor/ptyfloor
