// The console works without JavaScript; this adds the live reload of the Alerts page and nothing else.
document.documentElement.classList.add("js");
if (document.getElementById("live")) setTimeout(() => location.reload(), 10000);
