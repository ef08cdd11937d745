/* Style sheet ("$c": accent colour). */
(function (ns) {
  if (!ns) {
    return;
  }
  ns.css = [
    ".kf-root,.kf-root *{box-sizing:border-box;margin:0;padding:0;font:14px/1.4 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1d2433;text-align:left}",
    ".kf-root{position:fixed;right:20px;bottom:20px;z-index:2147483000}",
    ".kf-root button{cursor:pointer;border:0;background:$c;color:#fff;border-radius:6px;padding:6px 12px;margin-right:6px}",
    ".kf-root .kf-btn{display:block;margin-left:auto;border-radius:24px;padding:12px 20px;font-weight:bold;box-shadow:0 4px 14px #9aa3b5}",
    ".kf-root .kf-n{background:#e5484d;border-radius:9px;padding:0 6px;margin-left:8px}",
    ".kf-win,.kf-inv{width:360px;background:#fff;border-radius:12px;box-shadow:0 6px 24px #8d96a8;margin:0 0 12px auto}",
    ".kf-win{height:520px;max-height:80vh;overflow:hidden;position:relative}",
    ".kf-head{background:$c;padding:10px 44px 10px 16px;height:58px}",
    ".kf-root .kf-head *,.kf-root .kf-me .kf-t,.kf-root .kf-n{color:#fff}",
    ".kf-title{font-weight:bold;font-size:16px;display:block}",
    ".kf-root .kf-x{position:absolute;right:6px;top:10px;background:none;font-size:24px}",
    ".kf-body{position:absolute;top:58px;bottom:64px;left:0;right:0;overflow-y:auto;padding:12px;background:#f6f7f9}",
    ".kf-ban{padding:6px 10px;margin-bottom:8px;background:#fff4d6;border-radius:6px}",
    ".kf-root .kf-err{background:#fde8e8}",
    ".kf-root .kf-t{display:inline-block;max-width:80%;padding:8px 12px;border-radius:14px;background:#fff;border:1px solid #e3e6ec;white-space:pre-wrap;word-wrap:break-word}",
    ".kf-root .kf-me{text-align:right}",
    ".kf-root .kf-me .kf-t{background:$c;text-align:left}",
    ".kf-root .kf-meta,.kf-root .kf-sys,.kf-root .kf-ty{display:block;font-size:11px;color:#7b8394;margin:2px 0 8px;text-align:inherit}",
    ".kf-root .kf-sys{text-align:center}",
    ".kf-root .kf-fail .kf-meta{color:#c62828}",
    ".kf-foot{position:absolute;bottom:0;left:0;right:0;padding:10px;border-top:1px solid #e3e6ec}",
    ".kf-root textarea,.kf-lv input{display:block;width:100%;border:1px solid #cfd4dd;border-radius:8px;padding:8px;margin:6px 0}",
    ".kf-root .kf-in{height:44px;padding-right:70px;margin:0;resize:none}",
    ".kf-root .kf-send{position:absolute;right:16px;top:17px}",
    ".kf-inv{padding:14px}",
    ".kf-root .kf-no{background:#e9ecf1;color:#1d2433}",
    "@media (max-width:480px){.kf-root{left:10px;right:10px;bottom:10px}.kf-root.kf-open{top:0;left:0;right:0;bottom:0}",
    ".kf-win,.kf-inv{width:auto}.kf-open .kf-win{height:100%;max-height:none;border-radius:0;margin:0}.kf-open .kf-btn{display:none}}"
  ].join("\n");
})(window.kefu && window.kefu._ld);
