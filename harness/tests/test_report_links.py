"""Citations you can click: files, functions and man pages of a rule's citation are linked at
the run's kernel version; the text around them stays escaped."""
from harness.report.links import link_citation, version_tag


def test_version_tag():
    assert version_tag((6, 1, 176)) == "v6.1.176"
    assert version_tag([6, 12, 0]) == "v6.12"
    assert version_tag("5.10.0-33-amd64") == "v5.10"
    assert version_tag("6.18.44-fc") == "v6.18.44"
    assert version_tag(None) is None and version_tag("gvisor") is None


def test_link_citation_links_file_function_and_man_page():
    html = str(link_citation("net/unix/af_unix.c unix_bind(): a <bad> & name; unix(7) and bind(2) ERRORS EINVAL",
                             (5, 10, 0)))
    assert '<a href="https://elixir.bootlin.com/linux/v5.10/source/net/unix/af_unix.c"' in html
    assert '<a href="https://elixir.bootlin.com/linux/v5.10/A/ident/unix_bind"' in html
    assert '<a href="https://man7.org/linux/man-pages/man7/unix.7.html"' in html
    assert '<a href="https://man7.org/linux/man-pages/man2/bind.2.html#ERRORS"' in html
    assert "a &lt;bad&gt; &amp; name" in html
    assert str(link_citation("", None)) == ""
    assert "/latest/A/ident/f" in str(link_citation("f()", None))
