// Where the page finds the MyFlix API. Empty: the same origin (what `myflix serve` does).
// For a deployed API, set its URL here, e.g. "https://abc123.execute-api.us-east-1.amazonaws.com/api",
// or open the page with ?api=<that URL>.
window.MYFLIX_CONFIG = {
  apiBase: ""
};
