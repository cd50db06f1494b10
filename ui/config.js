// Where the page finds the MyFlix API. Empty: the same origin (what `myflix serve` does).
// For a deployed API, set its URL here, e.g. "https://abc123.execute-api.us-east-1.amazonaws.com/api",
// or open the page with ?api=<that URL>. Only http:// and https:// URLs are used; the page shows which
// API it talks to when it is not its own origin.
window.MYFLIX_CONFIG = {
  apiBase: ""
};
