package demo

import (
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// langs are the page languages, the default first. Each is a key of
// messages and a value the provider accepts in ui_locales.
var langs = []string{"en", "ja"}

// langMatcher matches Accept-Language against langs, in the same order.
var langMatcher = language.NewMatcher([]language.Tag{language.English, language.Japanese})

// parseLang returns the supported language that s names ("ja", "ja-JP",
// "EN" ...), or "" when it names none.
func parseLang(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 35 {
		return ""
	}
	t, err := language.Parse(s)
	if err != nil {
		return ""
	}
	base, _ := t.Base()
	for _, l := range langs {
		if base.String() == l {
			return l
		}
	}
	return ""
}

// acceptLang picks the best supported language of an Accept-Language
// header (RFC 9110 §12.5.4, q-values honoured), else the default.
func acceptLang(header string) string {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return langs[0]
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return langs[0]
	}
	return langs[i]
}

// pageLang chooses a page's language: the lang query parameter, else
// remembered (the language the sign-in started in), else Accept-Language.
func pageLang(r *http.Request, remembered string) string {
	if l := parseLang(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	if l := parseLang(remembered); l != "" {
		return l
	}
	return acceptLang(r.Header.Get("Accept-Language"))
}

// messages holds every label of the demo's pages, by language and key.
// Templates read them as {{.T.key}}; a key missing from one language fails
// the rendering (missingkey=error) and TestMessagesComplete.
var messages = map[string]map[string]string{
	"en": {
		"app_name":  "SMS PIN IdP · demo app",
		"dev_only":  "Development mode only. This demo app is mounted by “idp serve --dev” and must never be exposed in production.",
		"dev_label": "Development mode",
		"page_lang": "Page language:",

		"index_title":  "Try a sign-in",
		"index_intro":  "This page plays the part of an ordinary app, a relying party (RP), whose users sign in with the OpenID Provider at %s. Nothing here is special to this provider: the app uses the standard Go libraries golang.org/x/oauth2 and github.com/coreos/go-oidc.",
		"steps_title":  "What happens",
		"step1":        "This app sends your browser to the provider's authorization endpoint with a random state, a nonce and a PKCE code challenge (S256), asking for the scopes “openid profile phone offline_access”.",
		"step2":        "You sign in there with your username and password.",
		"step3":        "The provider sends a PIN to your phone by SMS, and you type it in.",
		"step4":        "The provider sends your browser back here with an authorization code.",
		"step5":        "This app exchanges the code and the PKCE verifier for tokens, verifies the ID token's signature and nonce, and calls the userinfo endpoint.",
		"step6":        "You see what the app has learned: the ID token's claims (look at amr) and the userinfo response.",
		"dev_hint":     "The terminal running “idp serve --dev” shows the demo user's name and password, and the SMS PIN (no SMS is sent in dev mode).",
		"signin_with":  "Sign in with %s",
		"ui_locales":   "Or choose the language of the provider's sign-in pages (sent as ui_locales):",
		"host_warning": "You opened this page at %s, but the provider's issuer is %s. The demo's cookie would not come back after the sign-in, so open the demo at the issuer's address:",

		"result_title":    "Signed in",
		"result_intro":    "The code was exchanged for tokens; the ID token's signature, issuer, audience, expiry and nonce were verified; the userinfo endpoint answered. This is what the app now knows about you.",
		"how_title":       "How you signed in",
		"sub_label":       "sub (your stable identifier at the provider)",
		"amr_label":       "amr (authentication methods)",
		"auth_time_label": "auth_time (when you authenticated)",
		"acr_label":       "acr (authentication context class)",
		"nonce_label":     "nonce",
		"nonce_ok":        "matches the one this app sent",
		"none":            "none",
		"ago":             "%s ago",
		"from_now":        "in %s",
		"amr_pwd":         "password",
		"amr_sms":         "confirmation by SMS",
		"amr_mfa":         "more than one factor",
		"amr_otp":         "one-time password",
		"claims_title":    "ID token claims",
		"claims_note":     "Verified by go-oidc with the provider's key from its JWKS. Highlighted: the claims that tell how you authenticated.",
		"userinfo_title":  "Userinfo response",
		"userinfo_note":   "Fetched from the userinfo endpoint with the access token; its sub matches the ID token's.",
		"tokens_title":    "Tokens",
		"tokens_note":     "Tokens are credentials, so this page never shows them: only whether each was issued and its length.",
		"access_token":    "Access token",
		"refresh_token":   "Refresh token",
		"id_token":        "ID token",
		"issued_len":      "issued (%d characters)",
		"not_issued":      "not issued",
		"refresh_hint":    "A refresh token is issued only when the offline_access scope is granted.",
		"token_type":      "Token type",
		"expiry_label":    "Access token expires",
		"expiry_unknown":  "not stated by the provider",
		"scope_label":     "Granted scopes",
		"signin_again":    "Sign in again",
		"back_start":      "Back to the start",

		"error_title":      "The sign-in did not complete",
		"error_code_label": "Error code",
		"error_desc_label": "The provider's description",
		"try_again":        "Try again",

		"err_no_login":     "No sign-in is in progress in this browser: the demo's cookie is missing or has expired (it lasts 10 minutes), or this page was reloaded after the sign-in had finished. Please start again.",
		"err_state":        "The state in the provider's response does not match the one this browser's sign-in sent. The response may belong to another sign-in, or someone tried to slip it into this browser (CSRF). It was refused.",
		"err_iss":          "The response names a different issuer (iss) from the one this app uses. It was refused (RFC 9207, mix-up defence).",
		"err_no_code":      "The provider's response carries neither an authorization code nor an error.",
		"err_authz":        "The provider did not grant the sign-in.",
		"err_discovery":    "The app could not read the provider's discovery document (/.well-known/openid-configuration).",
		"err_token":        "The provider refused the token request, or could not be reached.",
		"err_no_id_token":  "The provider's token response has no ID token.",
		"err_id_token":     "The ID token failed verification (signature, issuer, audience or expiry) and was refused.",
		"err_nonce":        "The ID token's nonce does not match the one this browser's sign-in sent. It was refused: the token may have been replayed or injected.",
		"err_at_hash":      "The ID token's at_hash does not match the access token. The tokens were refused.",
		"err_userinfo":     "The provider's userinfo endpoint refused the request, or could not be reached.",
		"err_userinfo_sub": "The userinfo response is about a different user (sub) from the ID token. It was refused (OpenID Connect Core §5.3.4).",

		"oauth_access_denied":             "You cancelled the sign-in, or the provider refused it.",
		"oauth_login_required":            "The provider needs you to sign in, but was asked not to show its pages.",
		"oauth_consent_required":          "The provider needs your consent, but was asked not to show its pages.",
		"oauth_interaction_required":      "The provider needs to ask you something, but was asked not to show its pages.",
		"oauth_invalid_request":           "The provider found the request malformed.",
		"oauth_invalid_scope":             "The provider does not allow one of the requested scopes for this client.",
		"oauth_unauthorized_client":       "This client may not use the authorization code flow.",
		"oauth_unsupported_response_type": "The provider does not support this response type.",
		"oauth_server_error":              "The provider hit an unexpected error.",
		"oauth_temporarily_unavailable":   "The provider is busy or under maintenance. Try again later.",
		"oauth_invalid_grant":             "The code was already used or has expired, or the PKCE verifier does not match the challenge.",
		"oauth_invalid_client":            "The provider does not know this client, or the client is not registered as a public client.",
	},
	"ja": {
		"app_name":  "SMS PIN IdP・デモアプリ",
		"dev_only":  "開発モード専用です。このデモアプリは「idp serve --dev」が組み込むもので、本番環境で公開してはいけません。",
		"dev_label": "開発モード",
		"page_lang": "このページの言語:",

		"index_title":  "ログインを試す",
		"index_intro":  "このページは、%s の OpenID プロバイダーでユーザーをログインさせる普通のアプリ（リライングパーティ、RP）の役を演じます。このプロバイダー専用の仕掛けはなく、Go の標準的なライブラリ golang.org/x/oauth2 と github.com/coreos/go-oidc を使っています。",
		"steps_title":  "流れ",
		"step1":        "アプリがランダムな state、nonce、PKCE のコードチャレンジ（S256）を付けて、ブラウザーをプロバイダーの認可エンドポイントへ送ります。スコープは「openid profile phone offline_access」です。",
		"step2":        "そこでユーザー名とパスワードでログインします。",
		"step3":        "プロバイダーが SMS で電話に PIN を送るので、それを入力します。",
		"step4":        "プロバイダーが認可コードを付けてブラウザーをここへ戻します。",
		"step5":        "アプリはコードと PKCE のベリファイアをトークンと交換し、ID トークンの署名と nonce を検証して、UserInfo エンドポイントを呼びます。",
		"step6":        "アプリが知った内容が表示されます。ID トークンのクレーム（amr に注目）と UserInfo のレスポンスです。",
		"dev_hint":     "「idp serve --dev」を実行している端末に、デモユーザーの名前とパスワード、SMS の PIN が表示されます（開発モードでは SMS は送信されません）。",
		"signin_with":  "%s でログイン",
		"ui_locales":   "プロバイダーのログイン画面の言語を指定する場合（ui_locales として送信）:",
		"host_warning": "このページは %s で開かれていますが、プロバイダーの issuer は %s です。このままではログイン後にデモの Cookie が戻らないため、issuer のアドレスでデモを開いてください:",

		"result_title":    "ログインしました",
		"result_intro":    "コードをトークンと交換し、ID トークンの署名・issuer・audience・有効期限・nonce を検証し、UserInfo エンドポイントから応答を得ました。これがアプリの知ったあなたの情報です。",
		"how_title":       "認証の方法",
		"sub_label":       "sub（プロバイダーでのあなたの不変の識別子）",
		"amr_label":       "amr（認証方式）",
		"auth_time_label": "auth_time（認証した時刻）",
		"acr_label":       "acr（認証コンテキストクラス）",
		"nonce_label":     "nonce",
		"nonce_ok":        "アプリが送ったものと一致",
		"none":            "なし",
		"ago":             "%s前",
		"from_now":        "あと%s",
		"amr_pwd":         "パスワード",
		"amr_sms":         "SMS による確認",
		"amr_mfa":         "複数の要素",
		"amr_otp":         "ワンタイムパスワード",
		"claims_title":    "ID トークンのクレーム",
		"claims_note":     "go-oidc がプロバイダーの JWKS の鍵で検証済みです。強調表示は認証の方法を示すクレームです。",
		"userinfo_title":  "UserInfo のレスポンス",
		"userinfo_note":   "アクセストークンを使って UserInfo エンドポイントから取得しました。sub は ID トークンと一致しています。",
		"tokens_title":    "トークン",
		"tokens_note":     "トークンは資格情報なので、このページには表示しません。発行されたかどうかと長さだけを示します。",
		"access_token":    "アクセストークン",
		"refresh_token":   "リフレッシュトークン",
		"id_token":        "ID トークン",
		"issued_len":      "発行済み（%d 文字）",
		"not_issued":      "発行されていません",
		"refresh_hint":    "リフレッシュトークンは offline_access スコープが許可されたときだけ発行されます。",
		"token_type":      "トークンの種類",
		"expiry_label":    "アクセストークンの有効期限",
		"expiry_unknown":  "プロバイダーの指定なし",
		"scope_label":     "許可されたスコープ",
		"signin_again":    "もう一度ログイン",
		"back_start":      "最初に戻る",

		"error_title":      "ログインは完了しませんでした",
		"error_code_label": "エラーコード",
		"error_desc_label": "プロバイダーからの説明",
		"try_again":        "もう一度試す",

		"err_no_login":     "このブラウザーで進行中のログインがありません。デモの Cookie がないか期限切れ（10 分）か、ログインの完了後にこのページが再読み込みされました。最初からやり直してください。",
		"err_state":        "プロバイダーの応答の state が、このブラウザーで始めたログインのものと一致しません。別のログインの応答か、第三者がこのブラウザーに応答を送り込もうとした（CSRF）可能性があるため、拒否しました。",
		"err_iss":          "応答の issuer（iss）がこのアプリの使うものと異なるため、拒否しました（RFC 9207、mix-up 攻撃対策）。",
		"err_no_code":      "プロバイダーの応答に認可コードもエラーもありません。",
		"err_authz":        "プロバイダーはログインを許可しませんでした。",
		"err_discovery":    "プロバイダーのディスカバリー文書（/.well-known/openid-configuration）を読めませんでした。",
		"err_token":        "プロバイダーがトークン要求を拒否したか、プロバイダーに接続できませんでした。",
		"err_no_id_token":  "プロバイダーのトークン応答に ID トークンがありません。",
		"err_id_token":     "ID トークンの検証（署名、issuer、audience、有効期限）に失敗したため、拒否しました。",
		"err_nonce":        "ID トークンの nonce が、このブラウザーで始めたログインのものと一致しないため、拒否しました。トークンが再送または差し込まれた可能性があります。",
		"err_at_hash":      "ID トークンの at_hash がアクセストークンと一致しないため、トークンを拒否しました。",
		"err_userinfo":     "プロバイダーの UserInfo エンドポイントが要求を拒否したか、接続できませんでした。",
		"err_userinfo_sub": "UserInfo の応答が ID トークンとは別のユーザー（sub）のものなので、拒否しました（OpenID Connect Core §5.3.4）。",

		"oauth_access_denied":             "ログインがキャンセルされたか、プロバイダーに拒否されました。",
		"oauth_login_required":            "ログインが必要ですが、プロバイダーは画面を表示しないよう求められました。",
		"oauth_consent_required":          "同意が必要ですが、プロバイダーは画面を表示しないよう求められました。",
		"oauth_interaction_required":      "ユーザーへの確認が必要ですが、プロバイダーは画面を表示しないよう求められました。",
		"oauth_invalid_request":           "プロバイダーは要求の形式が正しくないと判断しました。",
		"oauth_invalid_scope":             "要求したスコープのいずれかが、このクライアントには許可されていません。",
		"oauth_unauthorized_client":       "このクライアントは認可コードフローを使えません。",
		"oauth_unsupported_response_type": "プロバイダーはこのレスポンスタイプに対応していません。",
		"oauth_server_error":              "プロバイダーで予期しないエラーが起きました。",
		"oauth_temporarily_unavailable":   "プロバイダーが混雑しているか、メンテナンス中です。時間をおいて試してください。",
		"oauth_invalid_grant":             "コードが使用済みか期限切れ、または PKCE のベリファイアがチャレンジと一致しません。",
		"oauth_invalid_client":            "プロバイダーがこのクライアントを知らないか、公開クライアントとして登録されていません。",
	},
}
