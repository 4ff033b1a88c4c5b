# bash completion for ketch                                   -*- shell-script -*-
# Install: source this file, or copy it to /usr/share/bash-completion/completions/ketch

_ketch_containers() { ketch ps -a --format json 2>/dev/null | sed -n 's/^ *"name": "\(.*\)",$/\1/p'; }
_ketch_running() { ketch ps --format json 2>/dev/null | sed -n 's/^ *"name": "\(.*\)",$/\1/p'; }
_ketch_images() { ketch image ls 2>/dev/null | awk 'NR > 1 { print $1 ":" $2 }'; }
_ketch_volumes() { ketch volume ls 2>/dev/null | awk 'NR > 1 { print $1 }'; }
_ketch_networks() { ketch network ls 2>/dev/null | awk 'NR > 1 && $1 != "none" && $1 != "host" && $1 != "bridge" { print $1 }'; }

_ketch() {
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    local commands="attach commit container copy cp create exec image images info inspect kill login logout logs manifest
        network port prune ps pull push referrers registry restart rm rmi run start stats stop tag tags top
        version volume wait"
    local i command=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --root|--run-root|--config) ((i++)) ;;
            -*) ;;
            *) command=${words[i]}; break ;;
        esac
    done
    if [[ -z $command ]]; then
        case $prev in
            --root|--run-root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
            --config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--root --run-root --config --debug --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi
    case $command in
        run|create)
            case $prev in
                --network|--net) COMPREPLY=($(compgen -W "none host bridge $(_ketch_networks)" -- "$cur")); return ;;
                --runtime) COMPREPLY=($(compgen -W "ketch-runtime runc crun" -- "$cur")); return ;;
                --pull) COMPREPLY=($(compgen -W "missing always never" -- "$cur")); return ;;
                -v|--volume) COMPREPLY=($(compgen -W "$(_ketch_volumes)" -- "$cur") $(compgen -d -- "$cur")); return ;;
                --env-file|--security-opt) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                --cap-add|--cap-drop) COMPREPLY=($(compgen -W "ALL CHOWN DAC_OVERRIDE FOWNER KILL NET_ADMIN NET_RAW SETUID SETGID SYS_ADMIN SYS_PTRACE SYS_TIME" -- "$cur")); return ;;
                --name|-e|--env|-w|--workdir|-u|--user|--tmpfs|-p|--publish|--hostname|--dns|-m|--memory|--cpus|--pids-limit|--entrypoint|--platform|-l|--label) return ;;
            esac
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-d --detach -i --interactive -t --tty --rm --name -e --env --env-file -w --workdir
                    -u --user -v --volume --tmpfs -p --publish --network --hostname --dns -m --memory --cpus
                    --pids-limit --cap-add --cap-drop --privileged --read-only --security-opt --entrypoint
                    --runtime --platform --pull -l --label --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_ketch_images)" -- "$cur"))
            fi ;;
        exec|top|stats|stop|restart|kill|port)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-i --interactive -t --tty -e --env -u --user -w --workdir -s --signal --time --format --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_ketch_running)" -- "$cur"))
            fi ;;
        container) COMPREPLY=($(compgen -W "commit cp create exec info inspect kill logs network port prune ps restart rm run start stats stop top volume wait" -- "$cur")) ;;
        rm|start|wait|logs|inspect|commit)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-f --force --follow --tail --since -t --timestamps --format --type -m --message --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_ketch_containers)" -- "$cur"))
            fi ;;
        cp) COMPREPLY=($(compgen -W "$(_ketch_containers | sed 's/$/:/')" -- "$cur") $(compgen -f -- "$cur")); compopt -o nospace 2>/dev/null ;;
        ps) COMPREPLY=($(compgen -W "-a --all -q --quiet --format --help" -- "$cur")) ;;
        volume)
            if [[ $prev == volume ]]; then COMPREPLY=($(compgen -W "create ls inspect rm" -- "$cur"))
            else COMPREPLY=($(compgen -W "$(_ketch_volumes)" -- "$cur")); fi ;;
        network)
            if [[ $prev == network ]]; then COMPREPLY=($(compgen -W "create ls inspect rm" -- "$cur"))
            else COMPREPLY=($(compgen -W "--subnet $(_ketch_networks)" -- "$cur")); fi ;;
        image)
            if [[ $prev == image ]]; then COMPREPLY=($(compgen -W "import export ls inspect tag rm unpack prune commit" -- "$cur"))
            else COMPREPLY=($(compgen -W "$(_ketch_images)" -- "$cur") $(compgen -f -- "$cur")); fi ;;
        rmi|tag|push) COMPREPLY=($(compgen -W "$(_ketch_images)" -- "$cur")) ;;
        info) COMPREPLY=($(compgen -W "--format --help" -- "$cur")) ;;
    esac
}
complete -F _ketch ketch
