package cmd

import "strings"

func init() { moreBadCases = append(moreBadCases, gitcredBadCases) }

// A password git passes on, which nix-auth must never echo.
const gitcredPassword = "gitPasswordSECRET0123456789"

// gitcredToken gives github.com a token in nix.conf.
func gitcredToken(e *badEnv) {
	e.nixConf("access-tokens = github.com=" + tokConf + "\n")
}

// gitcredBadGitConfig is a global git config git itself refuses.
func gitcredBadGitConfig(e *badEnv) {
	gitcredToken(e)
	e.write("home/.gitconfig", []byte("[credential \"https://github.com\"\n\thelper = store\n"))
}

// gitcredBadCases: what git (or anyone) pipes into the helper is bounded
// and never echoed, and setup-git changes nothing when a host or a file is
// wrong.
func gitcredBadCases() []badCase {
	get := []string{"git-credential", "get"}
	const inputHint = "key=value lines"
	return []badCase{
		{name: "gitcred/get-line-too-long", args: get, setup: gitcredToken,
			stdin: "protocol=https\nhost=github.com\npath=" + strings.Repeat("a", 70<<10) + "\n",
			code:  1, want: "line 3 of the input is longer than 64 KiB", hint: inputHint, secrets: []string{tokConf, "aaaaaaaa"}},
		{name: "gitcred/get-input-too-large", args: get, setup: gitcredToken,
			stdin: "protocol=https\nhost=github.com\n" + strings.Repeat("wwwauth[]=Basic "+gitcredPassword+"\n", 40000),
			code:  1, want: "the input is larger than 1024 KiB", hint: inputHint, secrets: []string{tokConf, gitcredPassword}},
		{name: "gitcred/get-nul", args: get, setup: gitcredToken,
			stdin: "protocol=https\nhost=github.com\npassword=" + gitcredPassword + "\x00\n",
			code:  1, want: "line 3 of the input contains a NUL byte", hint: inputHint, secrets: []string{tokConf, gitcredPassword}},
		{name: "gitcred/get-not-key-value", args: get, setup: gitcredToken,
			stdin: "protocol=https\nhost github.com " + gitcredPassword,
			code:  1, want: "line 2 of the input is not a key=value line", hint: inputHint, secrets: []string{tokConf, gitcredPassword}},
		{name: "gitcred/get-terminal-escape", args: get, setup: gitcredToken,
			stdin: "\x1b]0;owned\x07" + gitcredPassword + "\n",
			code:  1, want: "line 1 of the input is not a key=value line", hint: inputHint, secrets: []string{tokConf, gitcredPassword, "\x1b"}},
		{name: "gitcred/get-nixconf-name=value", args: get, setup: confNoSpaces, stdin: "protocol=https\nhost=github.com\n",
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},
		{name: "gitcred/get-include-cycle", args: get, setup: confCycle, stdin: "protocol=https\nhost=github.com\n",
			code: 1, file: "$D/home/.config/nix/a.conf:1", want: "include cycle", hint: "remove one of these include lines", secrets: []string{tokConf}},

		{name: "gitcred/setup-host-without-token", args: []string{"setup-git", "github.com", "example.org"}, setup: gitcredToken,
			code: 2, file: nixConfPath, want: "no token for example.org", hint: "nix-auth login example.org", secrets: []string{tokConf}},
		{name: "gitcred/setup-injected-host", args: []string{"setup-git", "github.com.helper=!sh -c id #"}, setup: gitcredToken,
			code: 2, want: "is not a host name", secrets: []string{tokConf}},
		{name: "gitcred/setup-url-with-password", args: []string{"setup-git", "https://octocat:" + gitcredPassword + "@github.com"}, setup: gitcredToken,
			code: 2, want: "user information", secrets: []string{tokConf, gitcredPassword}},
		{name: "gitcred/setup-sourcehut", args: []string{"setup-git", "sourcehut"}, setup: func(e *badEnv) {
			e.nixConf("access-tokens = git.sr.ht=" + tokConf + "\n")
		}, code: 2, want: "git.sr.ht takes no token over HTTPS git", hint: "over SSH", secrets: []string{tokConf}},
		{name: "gitcred/setup-no-tokens", args: []string{"setup-git"},
			code: 1, file: nixConfPath, want: "has a token git can use", hint: "nix-auth login"},
		{name: "gitcred/setup-nixconf-name=value", args: []string{"setup-git"}, setup: confNoSpaces,
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},
		{name: "gitcred/setup-broken-gitconfig", args: []string{"setup-git"}, setup: gitcredBadGitConfig,
			code: 1, file: "$D/home/.gitconfig", want: "bad config line", hint: "git config --global --list", secrets: []string{tokConf}},
		{name: "gitcred/undo-broken-gitconfig", args: []string{"setup-git", "--undo"}, setup: gitcredBadGitConfig,
			code: 1, file: "$D/home/.gitconfig", want: "bad config line", hint: "git config --global --list", secrets: []string{tokConf}},
	}
}
