// The language menu: a globe in the menu bar of both editions that opens "English / 中文"
// and takes the reader to the same page (and section) in the other one.
//
// The English book is built into book/book/ and the Chinese one into book/book/zh-CN/,
// with the same file names and, since the translation keeps every heading's English id,
// the same anchors. So the other edition's page is this page's path relative to the book's
// root, under the other root. `path_to_root` is mdBook's own (index.hbs defines it on every
// page); <html lang> is the book's language, which MDBOOK_BOOK__LANGUAGE sets.
(function () {
    "use strict";

    const LANGUAGES = [
        { code: "en", name: "English" },
        { code: "zh-CN", name: "中文" },
    ];
    const CHINESE_DIR = "zh-CN/";

    const current = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
    const bar = document.querySelector("#mdbook-menu-bar .right-buttons");
    if (!bar) {
        return;
    }

    // The URL of this page, with its section, in the edition `code`.
    function urlIn(code) {
        const here = new URL(window.location.href);
        // path_to_root is "" on a page at the root and "../" one level down: "./" after it
        // makes it the directory in both cases.
        const root = new URL((typeof path_to_root === "string" ? path_to_root : "") + "./", here);
        const page = here.href.slice(root.href.length);
        const englishRoot = current === "zh-CN" ? new URL("../", root) : root;
        return code === "zh-CN" ? englishRoot.href + CHINESE_DIR + page : englishRoot.href + page;
    }

    const toggle = document.createElement("button");
    toggle.id = "language-toggle";
    toggle.className = "icon-button";
    toggle.type = "button";
    toggle.title = "Language / 语言";
    toggle.setAttribute("aria-label", "Change language / 切换语言");
    toggle.setAttribute("aria-haspopup", "true");
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", "language-list");
    // A globe, drawn here so that the menu needs no icon font.
    toggle.innerHTML =
        '<svg class="language-globe" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" ' +
        'fill="none" stroke="currentColor" stroke-width="1.8">' +
        '<circle cx="12" cy="12" r="9.5"/><path d="M2.5 12h19"/>' +
        '<path d="M12 2.5c2.6 2.8 3.9 6 3.9 9.5s-1.3 6.7-3.9 9.5c-2.6-2.8-3.9-6-3.9-9.5s1.3-6.7 3.9-9.5z"/>' +
        "</svg>";

    const list = document.createElement("ul");
    list.id = "language-list";
    list.className = "theme-popup";
    list.setAttribute("role", "menu");
    list.setAttribute("aria-label", "Languages");
    for (const language of LANGUAGES) {
        const item = document.createElement("li");
        item.setAttribute("role", "none");
        const link = document.createElement("a");
        link.setAttribute("role", "menuitem");
        link.className = "theme" + (language.code === current ? " theme-selected" : "");
        link.lang = language.code;
        link.hreflang = language.code;
        link.textContent = language.name;
        link.href = urlIn(language.code);
        // The section the reader scrolled to since the page loaded goes along too.
        link.addEventListener("click", () => {
            link.href = urlIn(language.code);
        });
        item.appendChild(link);
        list.appendChild(item);
    }

    function show(open) {
        list.style.display = open ? "block" : "none";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    toggle.addEventListener("click", (event) => {
        event.stopPropagation();
        show(list.style.display !== "block");
    });
    document.addEventListener("click", (event) => {
        if (!list.contains(event.target)) {
            show(false);
        }
    });
    document.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
            show(false);
        }
    });

    const holder = document.createElement("div");
    holder.className = "language-picker";
    holder.appendChild(toggle);
    holder.appendChild(list);
    bar.insertBefore(holder, bar.firstChild);
})();
