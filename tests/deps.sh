# deps.sh - the one list of what syncmgr needs from Debian (iproute2: the
# multi-host tests build hosts from network namespaces), installed if
# missing. Sourced by tests/run.sh and examples/demo.sh; needs root (or
# everything already installed).
SM_DEBS="build-essential cmake pkg-config libnng-dev libprotobuf-c-dev protobuf-c-compiler
libmbedtls-dev libcmocka-dev nng-utils iproute2 openssl"

sm_install_deps() {
    local missing=""
    for p in $SM_DEBS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root, or install them)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
}

# The status page test (tests/test_status_page.c) opens syncmgrd --http in
# headless Chromium and reads /status.json with curl; tests/run.sh installs
# them.
SM_PAGE_DEBS="chromium curl"

sm_install_page_deps() {
    local SM_DEBS=$SM_PAGE_DEBS # sm_install_deps reads it
    sm_install_deps
}

# The request fuzzer (tests/fuzz/run.sh) also needs clang and libFuzzer's
# runtime (Debian bookworm: clang 14); only it installs them.
SM_FUZZ_DEBS="clang libclang-rt-14-dev"

sm_install_fuzz_deps() {
    local SM_DEBS=$SM_FUZZ_DEBS # sm_install_deps reads it
    sm_install_deps
}

# The comparative benchmark (tests/bench/compare.sh) also needs Redis and
# hiredis, Python (its multiprocessing manager is a peer) and gnuplot for
# its chart; only it installs them.
SM_BENCH_DEBS="redis-server libhiredis-dev gnuplot-nox python3"

sm_install_bench_deps() {
    local SM_DEBS=$SM_BENCH_DEBS # sm_install_deps reads it
    sm_install_deps
}
