# ruff: noqa: E501  (data: one case per line)
"""News sentences in the eight inflected languages, written by an engineer who had not read the matching
code (the first two rounds) and then aimed at its weak spots (the third, from ``R2_END``): a regression
set for ``tests/test_inflection_sentences.py``.

A group: (language, term, rule lang, [cases]); the term is a string or a mapping {term, exact, lang,
case}. A case: (article language or None to detect it, should the rule fire, sentence, why). Groups in
"xx" check guards (exactness, acronyms, other languages), "det" language detection, "info" are
recorded but not scored."""

Y, N = True, False
GROUPS = [
    # ---------------------------------------------------------------- Russian
    (
        "ru",
        "крылатая ракета",
        None,
        [
            ("ru", Y, "Над Черниговом сбиты две крылатые ракеты.", "nom pl"),
            ("ru", Y, "Удар был нанесён крылатой ракетой морского базирования.", "instr sg fem"),
            ("ru", Y, "Обломки крылатых ракет упали на поле.", "gen pl"),
            ("ru", Y, "Командование сообщило о крылатой ракете, летевшей к Киеву.", "prep sg"),
            ("ru", Y, "Крылатую ракету перехватили над морем.", "acc sg, sentence start"),
            ("ru", N, "Баллистическая ракета упала в пригороде.", "different adjective"),
            ("ru", N, "Ракета крылатая, по данным ВВС, была одна.", "reversed order"),
            (
                "ru",
                N,
                "Пострадали крылатые ракетные комплексы.",
                "ракетный is a derived adjective, not a form of ракета",
            ),
            ("ru", N, "У спортсмена пропала крылатая ракетка.", "ракетка = racket, a different word"),
        ],
    ),
    (
        "ru",
        "Северная Корея",
        None,
        [
            ("ru", Y, "Делегация Северной Кореи прибыла в Москву.", "gen"),
            ("ru", Y, "Россия подписала договор с Северной Кореей.", "instr"),
            ("ru", Y, "Военные отправились в Северную Корею.", "acc"),
            ("ru", Y, "О Северной Корее снова заговорили в ООН.", "prep"),
            ("ru", N, "Делегация Южной Кореи прибыла в Сеул.", "south vs north"),
            ("ru", N, "Северокорейские военные прибыли.", "derived compound adjective"),
            ("ru", N, "Корея Северная и Корея Южная.", "reversed order"),
        ],
    ),
    (
        "ru",
        "президентские выборы",
        None,
        [
            ("ru", Y, "На президентских выборах явка была низкой.", "prep pl"),
            ("ru", Y, "Итоги президентских выборов объявят завтра.", "gen pl"),
            ("ru", Y, "Партия готовится к президентским выборам.", "dat pl"),
            ("ru", N, "Парламентские выборы назначены на осень.", "different adjective"),
            ("ru", N, "Президентский выборный штаб закрылся.", "выборный is derived, not a form of выборы"),
        ],
    ),
    (
        "ru",
        "Газпром",
        None,
        [
            ("ru", Y, "Акции Газпрома упали на 5%.", "gen"),
            ("ru", Y, "Контракт с Газпромом расторгнут.", "instr"),
            ("ru", Y, "Санкции ударили по Газпрому.", "dat"),
            ("ru", N, "Газпромовские менеджеры уволены.", "derived adjective"),
        ],
    ),
    (
        "ru",
        "самолёт",
        None,
        [
            ("ru", Y, "Сбито три самолета противника.", "gen sg written with е instead of ё"),
            ("ru", Y, "Над морем видели два самолёта.", "gen sg with ё"),
            ("ru", Y, "Атака самолётами дальней авиации.", "instr pl"),
            ("ru", N, "Самолётостроение пострадало от санкций.", "compound noun"),
        ],
    ),
    (
        "ru",
        "Ростов-на-Дону",
        None,
        [
            ("ru", Y, "В Ростове-на-Дону объявлена тревога.", "prep (hyphenated name)"),
            ("ru", Y, "Аэропорт Ростова-на-Дону закрыт.", "gen"),
            ("ru", N, "Жители Ростова Великого спокойны.", "different city"),
        ],
    ),
    (
        "ru",
        "Сырский",
        None,
        [
            ("ru", Y, "Президент назначил Сырского главкомом.", "acc surname"),
            ("ru", Y, "Доклад направлен Сырскому.", "dat surname"),
            ("ru", Y, "Встреча с Сырским состоялась в Киеве.", "instr surname"),
            ("ru", N, "Сырые дрова не горят.", "сырой = damp, shares letters"),
        ],
    ),
    # ---------------------------------------------------------------- Ukrainian
    (
        "uk",
        "Харківська область",
        None,
        [
            ("uk", Y, "Обстріл Харківської області триває третю добу.", "gen"),
            ("uk", Y, "У Харківській області оголошено евакуацію.", "loc"),
            ("uk", Y, "Ворог атакував Харківську область дронами.", "acc"),
            ("uk", Y, "Харківською областю керує нова адміністрація.", "instr, sentence start"),
            ("uk", N, "Обстріл Херсонської області триває.", "different region"),
            ("uk", N, "Мешканці Харкова вийшли на вулиці.", "city noun, not the adjective"),
            ("uk", N, "Область Харківська та сусідні громади.", "reversed order"),
        ],
    ),
    (
        "uk",
        "північнокорейські солдати",
        None,
        [
            ("uk", Y, "Загибель північнокорейських солдатів підтвердили.", "gen pl"),
            ("uk", Y, "Бої з північнокорейськими солдатами на Курщині.", "instr pl"),
            ("uk", Y, "Полонений північнокорейський солдат дав інтерв'ю.", "nom sg"),
            ("uk", Y, "Північнокорейського солдата взяли в полон.", "acc sg, sentence start"),
            ("uk", N, "Південнокорейські солдати провели навчання.", "south vs north"),
            ("uk", N, "Солдати північнокорейські відступили.", "reversed order"),
        ],
    ),
    (
        "uk",
        "енергетична інфраструктура",
        None,
        [
            ("uk", Y, "Удар по енергетичній інфраструктурі Києва.", "loc/dat"),
            ("uk", Y, "Відновлення енергетичної інфраструктури триватиме роками.", "gen"),
            ("uk", Y, "Росія знову атакувала енергетичну інфраструктуру.", "acc"),
            ("uk", N, "Транспортна інфраструктура не постраждала.", "different adjective"),
            ("uk", N, "Енергетики відновлюють інфраструктуру.", "енергетик = power engineer, different word"),
        ],
    ),
    (
        "uk",
        "Покровськ",
        None,
        [
            ("uk", Y, "Бої під Покровськом не вщухають.", "instr"),
            ("uk", Y, "У Покровську залишаються цивільні.", "loc"),
            ("uk", Y, "Окупанти наступають на околиці Покровська.", "gen"),
            ("uk", N, "Село Покровське обстріляли вночі.", "Pokrovske, a different village"),
            ("uk", N, "Покровський район під обстрілом.", "derived adjective"),
        ],
    ),
    (
        "uk",
        "об'єкт",
        None,
        [
            ("uk", Y, "Уражено об’єкт енергетики.", "nom with typographic apostrophe"),
            ("uk", Y, "Біля обʼєкта впали уламки.", "gen with U+02BC modifier apostrophe"),
            ("uk", Y, "Кілька об'єктів критичної інфраструктури пошкоджено.", "gen pl ASCII apostrophe"),
            ("uk", N, "Об'єктив камери розбито.", "об'єктив = camera lens, different word"),
        ],
    ),
    (
        "uk",
        "дрон",
        None,
        [
            ("uk", Y, "Над містом збили 40 дронів.", "gen pl"),
            ("uk", Y, "Атака дронами тривала всю ніч.", "instr pl"),
            ("uk", Y, "Уламки дрона впали на дах.", "gen sg"),
            ("uk", N, "Претендент на трон прибув до Лондона.", "трон = throne"),
        ],
    ),
    # ---------------------------------------------------------------- German
    (
        "de",
        "russische Armee",
        None,
        [
            ("de", Y, "Ein Sprecher der russischen Armee dementierte den Bericht.", "gen fem weak"),
            ("de", Y, "Mit russischer Armee im Rücken rückten sie vor.", "dat strong"),
            ("de", Y, "Russische Armeen marschierten im 19. Jahrhundert ein.", "pl, sentence start"),
            ("de", N, "Die ukrainische Armee hält die Stellung.", "different adjective"),
            ("de", N, "Die russische Armeeführung schweigt.", "compound, not a form of Armee"),
        ],
    ),
    (
        "de",
        "Sanktionspaket",
        None,
        [
            ("de", Y, "Die EU einigte sich auf Sanktionspakete gegen Moskau.", "pl"),
            ("de", Y, "Die Verhandlungen des neuen Sanktionspakets stocken.", "gen -s"),
            ("de", Y, "Mit weiteren Sanktionspaketen droht Brüssel.", "dat pl"),
            ("de", N, "Die Sanktionspolitik bleibt umstritten.", "different compound"),
        ],
    ),
    (
        "de",
        "Flughafen",
        None,
        [
            ("de", Y, "Drei Flughäfen in Russland wurden gesperrt.", "pl with umlaut"),
            ("de", Y, "Die Startbahn des Flughafens wurde getroffen.", "gen"),
            ("de", Y, "An den Flughäfen herrscht Chaos.", "dat pl with umlaut"),
            ("de", N, "Der Flughafenbetreiber äußerte sich.", "compound"),
        ],
    ),
    (
        "de",
        "Anschlag",
        None,
        [
            ("de", Y, "Eine Serie von Anschlägen erschüttert das Land.", "dat pl umlaut"),
            ("de", Y, "Die Anschläge wurden verurteilt.", "pl umlaut"),
            ("de", Y, "Die Opfer des Anschlags werden betrauert.", "gen"),
            ("de", N, "Der Anschlagsort ist abgesperrt.", "compound"),
        ],
    ),
    (
        "de",
        "nordkoreanischer Soldat",
        None,
        [
            ("de", Y, "Nordkoreanische Soldaten kämpfen in Kursk.", "nom pl, sentence start"),
            ("de", Y, "Die Leiche eines nordkoreanischen Soldaten wurde gefunden.", "gen sg"),
            ("de", Y, "Interview mit einem nordkoreanischen Soldaten.", "dat sg"),
            ("de", N, "Südkoreanische Soldaten übten an der Grenze.", "south vs north"),
        ],
    ),
    (
        "de",
        "Selenskyj",
        None,
        [
            ("de", Y, "Selenskyjs Rede vor dem Bundestag.", "genitive -s on name"),
            ("de", Y, "Ein Treffen mit Selenskyj ist geplant.", "as written"),
            ("de", N, "Selenska besuchte eine Schule.", "Olena Zelenska, a different name"),
        ],
    ),
    (
        "de",
        "Nato-Gipfel",
        None,
        [
            ("de", Y, "Auf dem Nato-Gipfel in Den Haag.", "as written hyphen"),
            ("de", Y, "Vor Beginn des Nato-Gipfels wurde verhandelt.", "gen"),
            ("de", Y, "Auf den Nato-Gipfeln der letzten Jahre.", "dat pl"),
            ("de", N, "Die Nato-Gipfelerklärung liegt vor.", "compound"),
        ],
    ),
    # ---------------------------------------------------------------- Polish
    (
        "pl",
        "Korea Północna",
        None,
        [
            ("pl", Y, "Delegacja Korei Północnej przyleciała do Moskwy.", "gen"),
            ("pl", Y, "Rosja zawarła sojusz z Koreą Północną.", "instr"),
            ("pl", Y, "Amerykanie ostrzegają Koreę Północną.", "acc"),
            ("pl", N, "Delegacja Korei Południowej przyleciała do Warszawy.", "south vs north"),
            ("pl", N, "Północnokoreańska delegacja przyleciała.", "derived compound adjective"),
        ],
    ),
    (
        "pl",
        "północnokoreańscy żołnierze",
        None,
        [
            ("pl", Y, "Ukraińcy pojmali dwóch północnokoreańskich żołnierzy.", "gen/acc pl"),
            (
                "pl",
                Y,
                "Ukraińska brygada starła się z północnokoreańskimi żołnierzami pod Sudżą.",
                "instr pl",
            ),
            ("pl", Y, "Ranny północnokoreański żołnierz trafił do szpitala.", "nom sg"),
            ("pl", Y, "Północnokoreańskiemu żołnierzowi postawiono zarzuty.", "dat sg, sentence start"),
            ("pl", N, "Południowokoreańscy żołnierze ćwiczą.", "south vs north"),
            ("pl", N, "Żołnierze północnokoreańscy wycofali się.", "reversed order"),
        ],
    ),
    (
        "pl",
        "rakieta balistyczna",
        None,
        [
            ("pl", Y, "Szczątki rakiety balistycznej spadły pod Kijowem.", "gen sg"),
            ("pl", Y, "Rosjanie odpalili sześć rakiet balistycznych.", "gen pl fem, zero ending"),
            ("pl", Y, "Atak rakietami balistycznymi trwał godzinę.", "instr pl"),
            ("pl", Y, "Rakietą balistyczną trafiono w port.", "instr sg, sentence start"),
            ("pl", N, "Rakieta manewrująca spadła w lesie.", "different adjective"),
            ("pl", N, "Mistrz zgubił rakietkę balistyczną.", "rakietka = paddle/diminutive, not a form"),
        ],
    ),
    (
        "pl",
        "wybory prezydenckie",
        None,
        [
            ("pl", Y, "Wyniki wyborów prezydenckich ogłoszono rano.", "gen pl"),
            ("pl", Y, "W wyborach prezydenckich wygrał kandydat opozycji.", "loc pl"),
            ("pl", Y, "Przed wyborami prezydenckimi trwa kampania.", "instr pl"),
            ("pl", N, "Wybory parlamentarne odbędą się jesienią.", "different adjective"),
            ("pl", N, "Wyborcy prezydenccy są zmęczeni.", "wyborca = voter, derived"),
        ],
    ),
    (
        "pl",
        "elektrownia jądrowa",
        None,
        [
            ("pl", Y, "Zaporoska elektrownia jądrowa: wokół elektrowni jądrowej trwają walki.", "gen sg"),
            ("pl", Y, "Rząd planuje budowę trzech elektrowni jądrowych.", "gen pl"),
            ("pl", Y, "MAEA ostrzega przed atakami na elektrownię jądrową.", "acc sg"),
            ("pl", Y, "W elektrowniach jądrowych wprowadzono stan alarmowy.", "loc pl"),
            ("pl", N, "Elektrownia węglowa została wyłączona.", "different adjective"),
        ],
    ),
    (
        "pl",
        "Zełenski",
        None,
        [
            ("pl", Y, "Doradca Zełenskiego zabrał głos.", "gen surname"),
            ("pl", Y, "Rozmowa z Zełenskim trwała godzinę.", "instr surname"),
            ("pl", Y, "Premier przekazał Zełenskiemu list.", "dat surname"),
            ("pl", N, "Zieliński wygrał wybory.", "Zieliński, a different surname"),
        ],
    ),
    (
        "pl",
        "sankcja",
        None,
        [
            ("pl", Y, "Nowe sankcje wobec Rosji wchodzą w życie.", "nom pl"),
            ("pl", Y, "Pakiet sankcji przyjęto jednogłośnie.", "gen pl"),
            ("pl", Y, "Unia grozi sankcjami.", "instr pl"),
            ("pl", N, "Rada chce sankcjonować firmy.", "verb, derived"),
        ],
    ),
    # ---------------------------------------------------------------- Spanish
    (
        "es",
        "presidente electo",
        None,
        [
            ("es", Y, "La presidenta electa de México habló ayer.", "fem sg"),
            ("es", Y, "Los presidentes electos se reunieron en Madrid.", "masc pl"),
            ("es", Y, "El presidente electo prometió reformas.", "as written"),
            ("es", N, "El presidente saliente prometió reformas.", "different adjective"),
            ("es", N, "El electo presidente habló.", "reversed order"),
        ],
    ),
    (
        "es",
        "sanción",
        None,
        [
            ("es", Y, "La UE aprobó nuevas sanciones contra Rusia.", "pl, accent drops"),
            ("es", Y, "Una sanción económica afecta a Gazprom.", "as written"),
            ("es", Y, "Sanciones a bancos rusos entran en vigor.", "pl, sentence start"),
            ("es", N, "El ministerio sancionó a tres empresas.", "verb sancionar"),
        ],
    ),
    (
        "es",
        "central nuclear",
        None,
        [
            ("es", Y, "Las centrales nucleares ucranianas siguen operativas.", "pl"),
            ("es", Y, "El OIEA visitó la central nuclear de Zaporiyia.", "as written"),
            ("es", N, "La central térmica fue bombardeada.", "different adjective"),
            ("es", N, "La nuclear central del plan es otra.", "reversed order"),
        ],
    ),
    (
        "es",
        "norcoreano",
        None,
        [
            ("es", Y, "Una unidad norcoreana cruzó la frontera.", "fem sg"),
            ("es", Y, "Los soldados norcoreanos llegaron a Kursk.", "masc pl"),
            ("es", Y, "Las tropas norcoreanas sufrieron bajas.", "fem pl"),
            ("es", N, "Los soldados surcoreanos llegaron a Seúl.", "south vs north"),
        ],
    ),
    (
        "es",
        "elección presidencial",
        None,
        [
            (
                "es",
                Y,
                "Las elecciones presidenciales de Rumanía fueron anuladas.",
                "pl, accent drops, -al→-ales",
            ),
            ("es", Y, "La elección presidencial se repetirá.", "as written"),
            ("es", N, "Las elecciones legislativas fueron anuladas.", "different adjective"),
        ],
    ),
    (
        "es",
        "ataque ruso",
        None,
        [
            ("es", Y, "Los ataques rusos contra Odesa continúan.", "pl"),
            ("es", Y, "Tras el ataque ruso, Kiev pidió ayuda.", "as written"),
            ("es", N, "El atacante ruso fue detenido.", "atacante = attacker, derived"),
            ("es", N, "El ataque a Rusia fue repelido.", "Rusia is the country, not a form of ruso"),
        ],
    ),
    # ---------------------------------------------------------------- French
    (
        "fr",
        "missile balistique",
        None,
        [
            ("fr", Y, "Deux missiles balistiques ont frappé Dnipro.", "pl"),
            ("fr", Y, "Les débris d'un missile balistique retrouvés.", "after elided d'"),
            ("fr", Y, "Missiles balistiques : la Corée du Nord teste encore.", "pl, sentence start"),
            ("fr", N, "Un missile de croisière a été abattu.", "different phrase"),
            ("fr", N, "Un antimissile balistique a été testé.", "antimissile is a derived compound"),
        ],
    ),
    (
        "fr",
        "nord-coréen",
        None,
        [
            ("fr", Y, "Une unité nord-coréenne a été repérée.", "fem sg hyphenated"),
            ("fr", Y, "Des soldats nord-coréens combattent à Koursk.", "masc pl"),
            ("fr", Y, "Les troupes nord-coréennes ont subi des pertes.", "fem pl"),
            ("fr", N, "Des soldats sud-coréens ont défilé.", "south vs north"),
        ],
    ),
    (
        "fr",
        "élection présidentielle",
        None,
        [
            ("fr", Y, "Les élections présidentielles se tiendront en mai.", "pl"),
            ("fr", Y, "Les résultats de l'élection présidentielle roumaine.", "elided l'"),
            ("fr", Y, "Le report de l’élection présidentielle inquiète.", "typographic apostrophe l’"),
            ("fr", Y, "L'élection présidentielle a été annulée.", "capital L' at sentence start"),
            ("fr", N, "L'élection législative a été annulée.", "different adjective"),
            ("fr", N, "Les électeurs de la présidentielle votent.", "électeur is derived"),
        ],
    ),
    (
        "fr",
        "hôpital",
        None,
        [
            ("fr", Y, "Deux hôpitaux ont été bombardés à Kharkiv.", "irregular pl -al→-aux"),
            ("fr", Y, "Les blessés arrivent à l'hôpital.", "elided l'"),
            ("fr", Y, "Le directeur d’hôpital a témoigné.", "typographic d’"),
            ("fr", N, "Le personnel hospitalier est épuisé.", "hospitalier derived adjective"),
        ],
    ),
    (
        "fr",
        "centrale nucléaire",
        None,
        [
            ("fr", Y, "Les centrales nucléaires ukrainiennes fonctionnent.", "pl"),
            ("fr", Y, "Des drones près de la centrale nucléaire de Zaporijia.", "as written"),
            ("fr", N, "La centrale thermique a été touchée.", "different adjective"),
        ],
    ),
    (
        "fr",
        "Ukraine",
        None,
        [
            ("fr", Y, "L'aide militaire à l'Ukraine augmente.", "elided l'"),
            ("fr", Y, "Les réfugiés d’Ukraine arrivent.", "elided d’"),
            ("fr", N, "Un soldat ukrainien a été blessé.", "derived adjective"),
            ("fr", N, "Des Ukrainiens manifestent à Paris.", "derived demonym"),
        ],
    ),
    # ---------------------------------------------------------------- Italian
    (
        "it",
        "attacco russo",
        None,
        [
            ("it", Y, "Gli attacchi russi contro Kharkiv proseguono.", "pl -cco→-cchi"),
            ("it", Y, "Le vittime dell'attacco russo sono salite a dieci.", "elided dell'"),
            ("it", Y, "Dopo l’attacco russo, Kiev chiede difese aeree.", "typographic l’"),
            ("it", N, "L'attaccante russo ha segnato.", "attaccante = striker, derived"),
            ("it", N, "L'attacco ucraino è fallito.", "different adjective"),
        ],
    ),
    (
        "it",
        "arma nucleare",
        None,
        [
            ("it", Y, "Le armi nucleari tattiche sono in Bielorussia.", "pl -a→-i, -e→-i"),
            ("it", Y, "Mosca minaccia l'uso di un'arma nucleare.", "elided un'"),
            ("it", Y, "Armi nucleari: l'allarme dell'ONU.", "pl, sentence start"),
            ("it", N, "Un'arma convenzionale è stata usata.", "different adjective"),
        ],
    ),
    (
        "it",
        "elezione presidenziale",
        None,
        [
            ("it", Y, "Le elezioni presidenziali in Romania sono state annullate.", "pl"),
            ("it", Y, "Il risultato dell'elezione presidenziale è contestato.", "elided dell'"),
            ("it", Y, "All'elezione presidenziale partecipa il 60%.", "elided All' at start"),
            ("it", N, "Le elezioni legislative sono state annullate.", "different adjective"),
            ("it", N, "Gli elettori presidenziali votano.", "elettore is derived"),
        ],
    ),
    (
        "it",
        "ostaggio israeliano",
        None,
        [
            ("it", Y, "Hamas ha liberato tre ostaggi israeliani.", "pl -io→-i"),
            ("it", Y, "Il corpo dell'ostaggio israeliano è stato restituito.", "elided dell'"),
            ("it", Y, "Un ostaggio israeliano è stato liberato.", "as written"),
            ("it", N, "Un ostaggio palestinese è stato rilasciato.", "different adjective"),
        ],
    ),
    (
        "it",
        "drone russo",
        None,
        [
            ("it", Y, "I droni russi hanno colpito Odessa.", "pl"),
            ("it", Y, "Abbattuto dal drone russo sopra la Polonia.", "as written after dal"),
            ("it", Y, "Un drone russo e due droni russi.", "sg+pl"),
            ("it", N, "Un drone sulla Russia è stato abbattuto.", "Russia is not a form of russo"),
        ],
    ),
    (
        "it",
        "sanzione",
        None,
        [
            ("it", Y, "Le nuove sanzioni colpiscono le banche.", "pl"),
            ("it", Y, "Sanzioni Ue: il nuovo pacchetto.", "pl, sentence start"),
            ("it", N, "L'azienda è stata sanzionata.", "participle of sanzionare"),
        ],
    ),
    # ---------------------------------------------------------------- Portuguese
    (
        "pt",
        "eleição presidencial",
        None,
        [
            ("pt", Y, "As eleições presidenciais no Brasil foram tranquilas.", "pl -ão→-ões, -al→-ais"),
            ("pt", Y, "O resultado da eleição presidencial foi contestado.", "as written"),
            ("pt", Y, "Eleições presidenciais: o segundo turno.", "pl, sentence start"),
            ("pt", N, "As eleições legislativas foram adiadas.", "different adjective"),
            ("pt", N, "Os eleitores presidenciais votam.", "eleitor is derived"),
        ],
    ),
    (
        "pt",
        "norte-coreano",
        None,
        [
            ("pt", Y, "Uma unidade norte-coreana foi vista em Kursk.", "fem sg hyphen"),
            ("pt", Y, "Os soldados norte-coreanos sofreram baixas.", "masc pl"),
            ("pt", Y, "As tropas norte-coreanas recuaram.", "fem pl"),
            ("pt", N, "Os soldados sul-coreanos recuaram.", "south vs north"),
        ],
    ),
    (
        "pt",
        "sanção",
        None,
        [
            ("pt", Y, "A UE aprovou novas sanções contra a Rússia.", "pl -ão→-ões"),
            ("pt", Y, "A sanção entrou em vigor.", "as written"),
            ("pt", N, "A empresa foi sancionada pelo Tesouro.", "participle, derived"),
        ],
    ),
    (
        "pt",
        "alemão",
        None,
        [
            ("pt", Y, "O governo alemão anunciou ajuda.", "as written"),
            ("pt", Y, "A chanceler alemã visitou Kiev.", "fem sg -ão→-ã"),
            ("pt", Y, "Os tanques alemães chegaram à Ucrânia.", "masc pl -ão→-ães"),
            ("pt", Y, "As empresas alemãs sofrem com a crise.", "fem pl"),
            ("pt", N, "A Alemanha enviou tanques.", "country, not the adjective"),
        ],
    ),
    (
        "pt",
        "usina nuclear",
        None,
        [
            ("pt", Y, "As usinas nucleares ucranianas operam.", "pl"),
            ("pt", Y, "Drones perto da usina nuclear de Zaporíjia.", "as written"),
            ("pt", N, "A usina hidrelétrica foi destruída.", "different adjective"),
        ],
    ),
    (
        "pt",
        "ataque aéreo",
        None,
        [
            ("pt", Y, "Os ataques aéreos russos mataram civis.", "pl"),
            ("pt", Y, "Após o ataque aéreo, a cidade ficou sem luz.", "as written"),
            ("pt", N, "O atacante aéreo foi abatido.", "atacante = attacker, derived"),
        ],
    ),
    # ---------------------------------------------------------------- cross-language guards
    (
        "xx",
        "rakieta",
        None,
        [
            (
                "ru",
                N,
                "Польские СМИ пишут: rakiety spadły pod Przewodowem.",
                "Latin term in Cyrillic article takes no Russian endings",
            ),
            ("ru", Y, "Польское слово rakieta означает ракета.", "as written still matches"),
            ("pl", Y, "Dwie rakiety spadły pod Przewodowem.", "control: Polish article"),
        ],
    ),
    (
        "xx",
        "ракета",
        None,
        [
            (
                "pl",
                N,
                "Rosyjskie media piszą o ракеты i ракетой.",
                "Cyrillic term in Polish article takes no forms",
            ),
            (
                "uk",
                Y,
                "Ворожа ракета влучила в будинок, ще одну ракетою збили.",
                "unlabelled Cyrillic term takes Ukrainian forms (ракетою)",
            ),
        ],
    ),
    (
        "xx",
        {"term": "ракета", "lang": "ru"},
        None,
        [
            ("uk", N, "Ще одну ракетою збили над Києвом.", "lang: ru term, Ukrainian-only form ракетою"),
            ("ru", Y, "Ещё одну ракетой сбили над Москвой.", "control: Russian instr"),
        ],
    ),
    (
        "xx",
        "Харківська область",
        "ru",
        [
            ("uk", N, "У Харківській області тривога.", "rule lang: ru; Ukrainian forms excluded"),
        ],
    ),
    (
        "xx",
        {"term": "Patriot", "lang": "en"},
        None,
        [
            ("de", N, "Die Patrioten demonstrierten in Berlin.", "English term, German weak plural"),
            ("de", Y, "Zwei Patriots wurden geliefert.", "English plural allowed"),
            ("de", Y, "Ein Patriot-System wurde geliefert.", "as written"),
        ],
    ),
    (
        "xx",
        "Patriot",
        "en",
        [
            ("de", N, "Den Patrioten wurde gedankt.", "rule lang: en; German dat pl"),
        ],
    ),
    (
        "xx",
        "troop",
        None,
        [
            ("de", N, "Die Truppe rückt vor.", "English word, German look-alike"),
            ("en", Y, "Troops moved north.", "English plural"),
        ],
    ),
    (
        "xx",
        "Marschflugkörper",
        None,
        [
            ("de-AT", Y, "Österreich kritisiert Angriffe mit Marschflugkörpern.", "region-tagged de-AT"),
            ("de-CH", Y, "Mehrere Marschflugkörper wurden abgeschossen.", "de-CH"),
            (
                "en",
                N,
                "The Germans call them Marschflugkörpern in reports.",
                "English article: no German forms",
            ),
        ],
    ),
    (
        "xx",
        "eleição presidencial",
        "pt",
        [
            ("pt-BR", Y, "O TSE organiza as eleições presidenciais.", "pt-BR region tag"),
            (
                "es",
                N,
                "Las eleições presidenciais em Portugal.",
                "rule lang pt, Spanish article: as written only",
            ),
        ],
    ),
    (
        "xx",
        "войска",
        None,
        [
            ("en", N, "Reuters quoted: «северокорейскими войсками».", "lang en page: no Russian forms"),
        ],
    ),
    # ---------------------------------------------------------------- exact / case / acronym guards
    (
        "xx",
        {"term": "Sanktionen", "exact": True},
        None,
        [
            ("de", Y, "Neue Sanktionen gegen Iran.", "exact as written"),
            ("de", N, "Eine Sanktion gegen Iran.", "exact: no other form"),
        ],
    ),
    (
        "xx",
        {"term": "Газпром", "case": "sensitive"},
        None,
        [
            ("ru", Y, "Газпром сократил поставки.", "as written"),
            ("ru", N, "Акции Газпрома упали.", "case-sensitive term matches only as written (doc)"),
        ],
    ),
    (
        "xx",
        "ВСУ",
        None,
        [
            ("ru", Y, "ВСУ отошли от Авдеевки.", "acronym as written"),
            ("ru", N, "Он всу сказал.", "lowercase, acronym is case-sensitive"),
        ],
    ),
    (
        "xx",
        "ЗСУ",
        None,
        [
            ("uk", Y, "Генштаб ЗСУ повідомив про втрати.", "acronym"),
        ],
    ),
    (
        "xx",
        "OTAN",
        None,
        [
            ("fr", Y, "Le sommet de l’OTAN à La Haye.", "acronym after typographic elision"),
            ("fr", Y, "Les membres de l'OTAN.", "acronym after elision"),
            ("fr", N, "Le mot otan n'existe pas.", "lowercase"),
        ],
    ),
    (
        "xx",
        "UE",
        None,
        [
            ("it", Y, "Il vertice dell'UE a Bruxelles.", "acronym after dell'"),
            ("es", Y, "Las sanciones de la UE.", "acronym"),
            ("it", N, "Fondi ue in arrivo.", "lowercase acronym"),
        ],
    ),
    (
        "xx",
        {"term": "nordkoreanische Truppen", "exact": True},
        None,
        [
            ("de", N, "Berichte über die Verlegung nordkoreanischer Truppen.", "exact: phrase forms off"),
            ("de", Y, "Nordkoreanische Truppen in Kursk.", "exact but case-insensitive start"),
        ],
    ),
    # ---------------------------------------------------------------- detection (no declared language)
    (
        "det",
        "северокорейские войска",
        None,
        [
            (
                None,
                Y,
                "По данным разведки, в боях под Курском с северокорейскими войсками участвуют около двух тысяч украинских военнослужащих, а потери противника за последнюю неделю значительно выросли.",
                "ru detect, instr pl",
            ),
        ],
    ),
    (
        "det",
        "північнокорейські солдати",
        None,
        [
            (
                None,
                Y,
                "За даними розвідки, в боях на Курщині з північнокорейськими солдатами беруть участь кілька бригад Сил оборони, а втрати противника за останній тиждень значно зросли.",
                "uk detect, instr pl",
            ),
        ],
    ),
    (
        "det",
        "russische Armee",
        None,
        [
            (
                None,
                Y,
                "Nach Angaben des ukrainischen Generalstabs hat die Führung der russischen Armee in der vergangenen Woche erneut schwere Verluste gemeldet, während die Angriffe auf die Energieinfrastruktur weitergehen.",
                "de detect, gen",
            ),
        ],
    ),
    (
        "det",
        "rakieta balistyczna",
        None,
        [
            (
                None,
                Y,
                "Według ukraińskiego dowództwa w nocy rosyjskie wojsko wystrzeliło w kierunku Kijowa kilkanaście rakiet balistycznych, a obrona przeciwlotnicza zestrzeliła większość z nich nad obwodem kijowskim.",
                "pl detect, gen pl",
            ),
        ],
    ),
    (
        "det",
        "central nuclear",
        None,
        [
            (
                None,
                Y,
                "Según el organismo internacional de energía atómica, las centrales nucleares de Ucrania siguen funcionando con normalidad a pesar de los ataques rusos contra la red eléctrica del país durante el invierno.",
                "es detect, pl",
            ),
        ],
    ),
    (
        "det",
        "élection présidentielle",
        None,
        [
            (
                None,
                Y,
                "Selon la commission électorale, les élections présidentielles prévues au printemps pourraient être reportées en raison de la guerre, une décision que l'opposition juge contraire à la constitution du pays.",
                "fr detect, pl",
            ),
        ],
    ),
    (
        "det",
        "arma nucleare",
        None,
        [
            (
                None,
                Y,
                "Secondo fonti diplomatiche, il Cremlino ha schierato nuove armi nucleari tattiche in Bielorussia, una decisione che i paesi della Nato considerano una grave minaccia per la sicurezza dell'Europa orientale.",
                "it detect, pl",
            ),
        ],
    ),
    (
        "det",
        "eleição presidencial",
        None,
        [
            (
                None,
                Y,
                "Segundo a comissão eleitoral, as eleições presidenciais previstas para a primavera poderão ser adiadas por causa da guerra, uma decisão que a oposição considera contrária à constituição do país.",
                "pt detect, pl",
            ),
        ],
    ),
    (
        "info",
        "Харківська область",
        None,
        [
            (
                None,
                N,
                "Нові обстріли в Харківській області",
                "too short to detect: only exact spelling expected? (informational)",
            ),
        ],
    ),
]

R1_END = len(GROUPS)
# ---------------------------------------------------------------- round 2: harder forms
GROUPS += [
    (
        "ru",
        "Авдеевка",
        None,
        [
            ("ru", Y, "Бои за Авдеевку продолжаются.", "acc"),
            ("ru", Y, "Под Авдеевкой идут бои.", "instr"),
            ("ru", Y, "В Авдеевке не осталось жителей.", "prep"),
            ("ru", N, "Авдеевский коксохим разрушен.", "derived adjective"),
        ],
    ),
    (
        "ru",
        "Буданов",
        None,
        [
            ("ru", Y, "Интервью Буданова вышло вчера.", "gen surname"),
            ("ru", Y, "Разговор с Будановым длился час.", "instr surname"),
            ("ru", N, "Будановка — село на Полтавщине.", "a village name"),
        ],
    ),
    (
        "ru",
        "войска",
        None,
        [
            ("ru", Y, "Российские войска отошли.", "as written"),
            ("ru", Y, "Переброска войск к границе.", "gen pl"),
            ("ru", Y, "Командующий войсками округа.", "instr pl"),
            ("ru", N, "Войсковая операция завершена.", "derived adjective войсковой"),
            ("ru", N, "Свеча из воска.", "воск = wax, shares letters"),
        ],
    ),
    (
        "uk",
        "Київ",
        None,
        [
            ("uk", Y, "Вибухи пролунали у Києві.", "loc, і→є alternation"),
            ("uk", Y, "Ракети летять на Київ, удари по Києву тривають.", "dat"),
            ("uk", Y, "Мешканці Києва спускаються в укриття.", "gen"),
            ("uk", Y, "Над Києвом працює ППО.", "instr"),
            ("uk", N, "На Київщині оголошено тривогу.", "region, derived"),
            ("uk", N, "Київський метрополітен працює як укриття.", "derived adjective"),
        ],
    ),
    (
        "uk",
        "Зеленський",
        None,
        [
            ("uk", Y, "Указ Зеленського набув чинності.", "gen"),
            ("uk", Y, "Байден зателефонував Зеленському.", "dat"),
            ("uk", Y, "Зустріч із Зеленським перенесли.", "instr"),
            ("uk", N, "Зелений коридор для зерна відкрито.", "зелений = green"),
        ],
    ),
    (
        "uk",
        "Часів Яр",
        None,
        [
            ("uk", Y, "Бої за Часів Яр тривають.", "as written (acc)"),
            ("uk", Y, "Оборона Часового Яру тримається.", "gen of the town name"),
            ("uk", Y, "У Часовому Яру залишаються цивільні.", "loc of the town name"),
        ],
    ),
    (
        "de",
        "Wahl",
        None,
        [
            ("de", Y, "Die Wahlen in Sachsen sind entschieden.", "pl"),
            ("de", Y, "Nach der Wahl bildet sich eine Koalition.", "as written"),
            ("de", N, "Die Wähler sind unzufrieden.", "Wähler = voter, derived with umlaut"),
            ("de", N, "Ein Wal strandete an der Küste.", "Wal = whale"),
        ],
    ),
    (
        "de",
        "ukrainische Stadt",
        None,
        [
            ("de", Y, "Raketen trafen mehrere ukrainische Städte.", "pl umlaut"),
            ("de", Y, "Angriffe auf ukrainische Städte und Dörfer.", "acc pl"),
            ("de", Y, "Der Bürgermeister einer ukrainischen Stadt.", "gen sg"),
            ("de", Y, "In ukrainischen Städten fällt der Strom aus.", "dat pl umlaut"),
            ("de", N, "Die ukrainische Stadtverwaltung meldet Schäden.", "compound"),
        ],
    ),
    (
        "de",
        "Putin",
        None,
        [
            ("de", Y, "Putins Krieg geht weiter.", "genitive -s"),
            ("de", N, "Die Putinversteher melden sich.", "compound"),
        ],
    ),
    (
        "de",
        "Großmacht",
        None,
        [
            ("de", Y, "Die Großmächte verhandeln.", "pl umlaut"),
            ("de-CH", Y, "Die Grossmacht China rüstet auf.", "Swiss spelling ss for ß"),
        ],
    ),
    (
        "pl",
        "Kijów",
        None,
        [
            ("pl", Y, "Eksplozje słychać było w Kijowie.", "loc, ó→o"),
            ("pl", Y, "Mer Kijowa zaapelował o pomoc.", "gen"),
            ("pl", Y, "Pod Kijowem spadły szczątki drona.", "instr, sentence start prep"),
            ("pl", N, "Kijowski sąd wydał wyrok.", "derived adjective"),
            (
                "pl",
                N,
                "Wojsko wycofało się spod Kijowa? Nie, kij się złamał.",
                "placeholder sanity: contains Kijowa so Y",
            )
            if False
            else ("pl", N, "Policjant złamał kij.", "kij = stick"),
        ],
    ),
    (
        "pl",
        "Rosja",
        None,
        [
            ("pl", Y, "Sankcje wobec Rosji przedłużono.", "gen"),
            ("pl", Y, "Negocjacje z Rosją utknęły.", "instr"),
            ("pl", Y, "Ukraina oskarża Rosję o zbrodnie.", "acc"),
            ("pl", N, "Rosjanin został zatrzymany.", "derived demonym"),
            ("pl", N, "Rosyjski dron spadł we wsi.", "derived adjective"),
        ],
    ),
    (
        "pl",
        "Pokrowsk",
        None,
        [
            ("pl", Y, "Walki pod Pokrowskiem trwają.", "instr"),
            ("pl", Y, "Rosjanie otaczają Pokrowsk od południa.", "as written"),
            ("pl", Y, "Obrońcy Pokrowska odpierają ataki.", "gen"),
        ],
    ),
    (
        "pl",
        "dron",
        None,
        [
            ("pl", Y, "Nad Polską zestrzelono rosyjskie drony.", "pl"),
            ("pl", Y, "Atak dronów trwał całą noc.", "gen pl"),
            ("pl", Y, "Zaatakowano dronami rafinerię.", "instr pl"),
            ("pl", N, "Król zasiadł na tronie.", "tron = throne"),
        ],
    ),
    (
        "es",
        "bombardeo",
        None,
        [
            ("es", Y, "Los bombardeos rusos destruyeron la central.", "pl"),
            ("es", Y, "Tras el bombardeo, no hay luz.", "as written"),
            ("es", N, "Rusia bombardeó Járkov anoche.", "verb bombardear (past), derived"),
        ],
    ),
    (
        "es",
        "apagón",
        None,
        [
            ("es", Y, "Los apagones afectan a Kiev.", "pl, accent drop"),
            ("es", Y, "Un apagón masivo en España.", "as written"),
        ],
    ),
    (
        "es",
        "régimen",
        None,
        [
            ("es", Y, "Los regímenes autoritarios apoyan a Moscú.", "pl, accent moves"),
            ("es", Y, "El régimen norcoreano envió tropas.", "as written"),
        ],
    ),
    (
        "es",
        "alemán",
        None,
        [
            ("es", Y, "El canciller alemán viajó a Kiev.", "as written"),
            ("es", Y, "La industria alemana está en crisis.", "fem sg, accent drop"),
            ("es", Y, "Los tanques alemanes llegaron.", "masc pl"),
            ("es", Y, "Las empresas alemanas protestan.", "fem pl"),
            ("es", N, "Alemania envió tanques.", "country, not the adjective"),
        ],
    ),
    (
        "es",
        "luz",
        None,
        [
            ("es", Y, "Las luces de Kiev se apagaron.", "pl z→c"),
            ("es", Y, "Millones siguen sin luz.", "as written"),
        ],
    ),
    (
        "fr",
        "général",
        None,
        [
            ("fr", Y, "Deux généraux russes ont été limogés.", "pl -al→-aux"),
            ("fr", Y, "Le général Syrsky a été nommé.", "as written"),
            (
                "fr",
                Y,
                "Une grève générale est annoncée.",
                "feminine of the homograph adjective général: a gender form per spec",
            ),
        ],
    ),
    (
        "fr",
        "russe",
        None,
        [
            ("fr", Y, "Les troupes russes avancent.", "pl"),
            ("fr", N, "La Russie a lancé une offensive.", "country, not the adjective"),
        ],
    ),
    (
        "fr",
        "Israël",
        None,
        [
            ("fr", Y, "Les frappes d'Israël sur Gaza.", "elided d'"),
            ("fr", Y, "Il a dit qu'Israël ripostera.", "elided qu' (conjunction)"),
            ("fr", Y, "Lorsqu’Israël a frappé, l’Iran a répondu.", "elided lorsqu’"),
            ("fr", N, "Un Israélien a été blessé.", "derived demonym"),
        ],
    ),
    (
        "fr",
        "frappe aérienne",
        None,
        [
            ("fr", Y, "Des frappes aériennes ont visé Kharkiv.", "pl"),
            ("fr", Y, "Une frappe aérienne a tué trois civils.", "as written"),
            ("fr", N, "Un frappeur aérien? Non.", "frappeur derived"),
        ],
    ),
    (
        "it",
        "tedesco",
        None,
        [
            ("it", Y, "Il governo tedesco invia armi.", "as written"),
            ("it", Y, "I carri armati tedeschi arrivano.", "masc pl -co→-chi"),
            ("it", Y, "La cancelleria tedesca tace.", "fem sg"),
            ("it", Y, "Le aziende tedesche soffrono.", "fem pl -ca→-che"),
            ("it", N, "La Germania invia armi.", "country"),
        ],
    ),
    (
        "it",
        "Ucraina",
        None,
        [
            ("it", Y, "Aiuti militari all'Ucraina.", "elided all'"),
            ("it", Y, "Il presidente dell’Ucraina a Roma.", "elided dell’ typographic"),
            ("it", N, "Due soldati ucraini sono stati feriti.", "adjective ucraino pl, not the country"),
        ],
    ),
    (
        "it",
        "nemico",
        None,
        [
            ("it", Y, "I nemici hanno ripiegato.", "pl -co→-ci"),
            ("it", Y, "Le linee nemiche cedono.", "fem pl -ca→-che"),
        ],
    ),
    (
        "it",
        "Italia",
        None,
        [
            ("it", Y, "La Banca d'Italia avverte.", "elided d'"),
            ("it", Y, "Gas russo nell'Italia del nord.", "elided nell'"),
            ("it", N, "Un italiano è stato arrestato.", "derived adjective"),
        ],
    ),
    (
        "pt",
        "avião",
        None,
        [
            ("pt", Y, "Dois aviões russos violaram o espaço aéreo.", "pl -ão→-ões"),
            ("pt", Y, "O avião caiu perto de Kursk.", "as written"),
            ("pt", N, "A aviação ucraniana respondeu.", "derived noun"),
        ],
    ),
    (
        "pt",
        "civil",
        None,
        [
            ("pt", Y, "Os ataques mataram dez civis.", "pl -il→-is"),
            ("pt", Y, "Um civil ficou ferido.", "as written"),
            ("pt", N, "A civilização ocidental.", "derived noun"),
        ],
    ),
    (
        "pt",
        "hospital",
        None,
        [
            ("pt", Y, "Dois hospitais foram bombardeados.", "pl -al→-ais"),
            ("pt", N, "A hospitalidade ucraniana.", "derived"),
        ],
    ),
    (
        "pt",
        "russo",
        None,
        [
            ("pt", Y, "Os soldados russos recuaram.", "pl"),
            ("pt", Y, "A ofensiva russa começou.", "fem"),
            ("pt", N, "A Rússia lançou mísseis.", "country"),
        ],
    ),
    (
        "xx",
        {"term": "Ukraine", "case": "sensitive"},
        None,
        [
            ("fr", Y, "L'aide à l'Ukraine.", "case-sensitive proper name after elision"),
        ],
    ),
    (
        "xx",
        {"term": "OTAN", "case": "insensitive"},
        None,
        [
            ("fr", Y, "Les membres de l'OTAN.", "case-insensitive acronym after elision"),
        ],
    ),
    (
        "xx",
        "OTAN",
        None,
        [
            (
                None,
                Y,
                "Les membres de l'OTAN se réunissent à La Haye pour discuter du soutien militaire à l'Ukraine et de la défense européenne.",
                "detected fr, acronym after elision",
            ),
            ("fr", Y, "Les membres de l' OTAN.", "space after apostrophe"),
        ],
    ),
    (
        "xx",
        "ЄС",
        None,
        [
            ("uk", Y, "Санкції ЄС набули чинності.", "Ukrainian acronym"),
        ],
    ),
    (
        "xx",
        "Nato-Gipfel",
        None,
        [
            ("de", Y, "Beim Nato Gipfel in Vilnius.", "space instead of hyphen"),
            ("de", Y, "Beim NATO-Gipfel in Vilnius.", "caps variant of Nato"),
        ],
    ),
]

GROUPS += [
    (
        "det",
        "Харківська область",
        None,
        [
            (
                None,
                Y,
                "Уночі російські війська знову обстріляли населені пункти Харківської області з реактивних систем залпового вогню, внаслідок чого пошкоджено житлові будинки та лінії електропередач.",
                "uk detect, gen",
            ),
        ],
    ),
    (
        "det",
        "usina nuclear",
        None,
        [
            (
                None,
                Y,
                "De acordo com a agência internacional de energia atômica, as usinas nucleares da Ucrânia continuam funcionando normalmente apesar dos ataques russos contra a rede elétrica do país.",
                "pt detect (close to es), pl",
            ),
        ],
    ),
    (
        "det",
        "crisi energetica",
        None,
        [
            (
                None,
                Y,
                "Secondo il governo, le crisi energetiche degli ultimi anni hanno spinto l'Europa a ridurre la dipendenza dal gas russo e a investire nelle energie rinnovabili e nel nucleare.",
                "it detect, pl of energetica",
            ),
        ],
    ),
    (
        "det",
        "Sanktionspaket",
        None,
        [
            (
                None,
                Y,
                "Die Europäische Union hat sich nach langen Verhandlungen auf ein neues Sanktionspaket gegen Russland geeinigt; Ungarn blockierte die Einigung mit weiteren Sanktionspaketen bis zuletzt.",
                "de detect, dat pl",
            ),
        ],
    ),
    (
        "det",
        "troop",
        None,
        [
            (
                None,
                Y,
                "Thousands of North Korean troops have been deployed to the Kursk region, according to officials in Seoul and Washington, who said the soldiers were fighting alongside Russian units.",
                "en detect, plural",
            ),
        ],
    ),
]
R2_END = len(GROUPS)
# ---------------------------------------------------------------- round 3 (written AFTER probing lemma(); targeted): names and stem collisions
GROUPS += [
    (
        "ru",
        "Песков",
        None,
        [
            ("ru", Y, "Заявление Пескова прозвучало утром.", "gen surname"),
            ("ru", Y, "С Песковым связались журналисты.", "instr surname"),
            ("ru", N, "Окопы засыпало песком.", "песок = sand"),
            ("ru", N, "Мешки с песком у здания администрации.", "песок = sand"),
        ],
    ),
    (
        "ru",
        "Торецк",
        None,
        [
            ("ru", Y, "Бои в Торецке продолжаются.", "prep"),
            ("ru", Y, "Под Торецком идут бои.", "instr"),
        ],
    ),
    (
        "uk",
        "Львів",
        None,
        [
            ("uk", Y, "У Львові пролунали вибухи.", "loc, і→о alternation"),
            ("uk", Y, "Мер Львова Садовий заявив про удар.", "gen"),
            ("uk", Y, "Над Львовом збили ракету.", "instr"),
            ("uk", N, "Львівська область під атакою.", "derived adjective (region)"),
        ],
    ),
    (
        "uk",
        "Харків",
        None,
        [
            ("uk", Y, "У Харкові знову вибухи.", "loc"),
            ("uk", Y, "Удар по Харкову забрав життя трьох людей.", "dat"),
            ("uk", Y, "Мешканці Харкова ночують у метро.", "gen"),
        ],
    ),
    (
        "uk",
        "Суми",
        None,
        [
            ("uk", Y, "У Сумах оголошено тривогу.", "loc pl of the city"),
            ("uk", Y, "Росія вдарила по Сумах балістикою.", "loc pl"),
            ("uk", Y, "Мешканців Сум евакуюють.", "gen pl"),
            ("uk", N, "Сума допомоги склала мільйон гривень.", "сума = sum of money"),
            ("uk", N, "Уряд виділив суму на відбудову.", "acc of сума = sum"),
        ],
    ),
    (
        "pl",
        "Przewodów",
        None,
        [
            ("pl", Y, "W Przewodowie spadła rakieta.", "loc of the village"),
            ("pl", Y, "Mieszkańcy Przewodowa pamiętają wybuch.", "gen of the village"),
            ("pl", N, "Przewód elektryczny został przecięty.", "przewód = cable"),
        ],
    ),
    (
        "pl",
        "Charków",
        None,
        [
            ("pl", Y, "W Charkowie słychać eksplozje.", "loc"),
            ("pl", Y, "Ostrzał Charkowa trwa.", "gen"),
        ],
    ),
    (
        "de",
        "Kampf",
        None,
        [
            ("de", Y, "Die Kämpfe um Pokrowsk dauern an.", "pl umlaut"),
            ("de", Y, "Im Kampf gegen die Inflation.", "as written"),
            ("de", N, "Nordkoreanische Kämpfer wurden gefangen.", "Kämpfer = fighter, derived agent noun"),
        ],
    ),
    (
        "de",
        "Burg",
        None,
        [
            ("de", Y, "Die Burgen am Rhein sind Touristenziele.", "pl"),
            ("de", N, "Die Bürger protestieren gegen die Regierung.", "Bürger = citizen, not a form of Burg"),
        ],
    ),
    (
        "it",
        "attacco",
        None,
        [
            ("it", Y, "Nuovo attacco su Kiev.", "as written"),
            ("it", N, "La Russia attaccò Kiev all'alba.", "verb attaccare (passato remoto), derived"),
        ],
    ),
    (
        "es",
        "acuerdo",
        None,
        [
            ("es", Y, "Los acuerdos de Minsk fracasaron.", "pl"),
            ("es", N, "El gobierno acordó nuevas medidas.", "verb acordar"),
        ],
    ),
    (
        "ru",
        "Киев",
        None,
        [
            ("ru", Y, "Взрывы прогремели в Киеве.", "prep"),
            ("ru", Y, "Над Киевом работает ПВО.", "instr"),
            ("ru", Y, "Мэр Киева Кличко заявил.", "gen"),
        ],
    ),
    (
        "ru",
        "Харьков",
        None,
        [
            ("ru", Y, "В Харькове снова взрывы.", "prep"),
            ("ru", Y, "Удар по Харькову.", "dat"),
        ],
    ),
    (
        "ru",
        "Шмыгаль",
        None,
        [
            ("ru", Y, "Отставка Шмыгаля одобрена Радой.", "gen surname"),
            ("ru", Y, "Встреча со Шмыгалем прошла в Берлине.", "instr surname"),
        ],
    ),
    (
        "uk",
        "Залужний",
        None,
        [
            ("uk", Y, "Інтерв'ю Залужного вийшло в Британії.", "gen surname"),
            ("uk", Y, "Із Залужним зустрівся прем'єр.", "instr surname"),
        ],
    ),
    (
        "uk",
        "Умєров",
        None,
        [
            ("uk", Y, "Заява Умєрова щодо переговорів.", "gen surname"),
            ("uk", Y, "Перемовини з Умєровим тривали годину.", "instr surname"),
        ],
    ),
]
